// Command rolling-upgrade plays a rolling upgrade of the example volume
// service under live traffic, with rollpin keeping old and new binaries
// talking to each other:
//
//	go run ./examples/rolling-upgrade
//
// It starts pind on an embedded etcd, three 1.3 servers and a load of 1.3
// and 1.4 clients (separate processes), replaces the servers one at a time
// with 1.4, and shows the pin rising by itself once the last 1.3 server is
// gone. It exits with status 1 when a call failed unexpectedly, an answer
// lost meaning, or the pin did not rise exactly once after the last 1.3
// server left. Where PostgreSQL is installed the servers share a volumes
// table and the run also plays expand, migrate and contract on it with
// pindctl migrate up (-no-postgres skips that).
package main
