package pinclient

// Reporter receives what a Client does; see WithMetrics. Implementations
// must be safe for concurrent use and must not block. Package pinclientprom
// implements it with Prometheus collectors.
type Reporter interface {
	// Connected is called when a stream to endpoint delivers its first
	// update; register tells a Register stream from a WatchPins stream.
	Connected(endpoint string, register bool)
	// Disconnected is called when a stream to endpoint, or an attempt to
	// open one, ends with err (a gRPC status error, or a context error at
	// Close).
	Disconnected(endpoint string, err error)
	// Applied is called after a batch of n updates from pind has been
	// applied; revision is the etcd revision the pins now reflect.
	Applied(n int, revision int64)
	// SnapshotSaved is called after every write of the snapshot file, with
	// its error (nil when written).
	SnapshotSaved(err error)
}

type nopReporter struct{}

func (nopReporter) Connected(string, bool)     {}
func (nopReporter) Disconnected(string, error) {}
func (nopReporter) Applied(int, int64)         {}
func (nopReporter) SnapshotSaved(error)        {}
