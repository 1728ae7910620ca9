// Command volume is the example volume service at API 1.4, as a server or as
// a load client, for the rolling-upgrade demo (examples/rolling-upgrade).
//
//	volume server -listen 127.0.0.1:0 -pind 127.0.0.1:7070 -id volume-1
//	volume client -pind 127.0.0.1:7070 -id client-1 -slots 127.0.0.1:7001,127.0.0.1:7002
//	volume features -pind 127.0.0.1:7070 -slots 127.0.0.1:7001
//
// features tries each 1.4 feature once (NVMe, sizes in MiB, thick volumes,
// ResizeVolume, multi-attach) and reports whether it worked, was refused or
// was downgraded under the current pin.
//
// All write JSON reports on stdout (package fleet). A server stops
// gracefully on SIGTERM or SIGINT; a client stops on "stop", end of stdin or
// a signal, and obeys "drain"/"open" commands on stdin.
package main
