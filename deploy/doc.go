// Package deploy holds what operators install next to pind: the Grafana
// dashboard (grafana/rollpin.json), the Prometheus alerting rules
// (prometheus/rollpin-rules.yaml) and the systemd unit (systemd/pind.service).
// It has no Go API; its tests check that the rules parse as Prometheus
// parses them and that every series the rules and the dashboard query is one
// a real pind exports.
package deploy
