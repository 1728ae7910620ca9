// Package netfault provides network faults for tests: a TCP proxy that can
// be partitioned, so that the connections through it stay open and fall
// silent, as across a network partition or to a host that vanished (no
// reset, no close: only timeouts can tell).
package netfault
