// Package statuspage serves pind's read-only status page: every service with
// its pin, floor, mode, hold, instances by version as a progress bar, the
// raise state with its countdown, and a timeline of the recorded history.
// The page is plain HTML, CSS and JavaScript embedded in the binary; it
// updates live from server-sent events fed by the Server's own state (the
// same etcd watch that feeds WatchPins), with no polling.
//
//	mux := http.NewServeMux()
//	mux.Handle("/", statuspage.New(srv))
//	http.Serve(lis, mux)
//
// # Endpoints
//
//	GET /            the page
//	GET /static/...  its CSS and JavaScript
//	GET /api/state   the current state as JSON: {"pins": GetPinsResponse, "history": GetHistoryResponse}
//	GET /events      server-sent events: a "state" event with the same JSON now and after every change
package statuspage
