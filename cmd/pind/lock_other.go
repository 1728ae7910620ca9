//go:build !unix

package main

// lockFileName is the lock pind would hold in --data-dir; on this system
// the embedded etcd's own lock is the only guard.
const lockFileName = "pind.lock"

// lockDataDir does nothing where flock(2) is not available.
func lockDataDir(string) (unlock func(), err error) { return func() {}, nil }
