// Package pinclientprom reports what a pinclient.Client does as Prometheus
// metrics. It lives apart from pinclient so that a service that does not
// use Prometheus does not link it.
//
//	m := pinclientprom.NewMetrics()
//	prometheus.MustRegister(m)
//	pins, err := pinclient.NewClient(endpoints, creds, pinclient.WithMetrics(m))
//
// # Metrics
//
//   - rollpin_pinclient_connected: 1 while a stream to pind delivers, else 0;
//   - rollpin_pinclient_stream_ends_total{code}: streams, and attempts to open
//     one, that ended, by gRPC code;
//   - rollpin_pinclient_update_batches_total and rollpin_pinclient_updates_total:
//     batches and updates from pind applied;
//   - rollpin_pinclient_revision: the etcd revision the pins reflect;
//   - rollpin_pinclient_snapshot_file_writes_total{result}: writes of the
//     snapshot file, result "ok" or "error".
package pinclientprom
