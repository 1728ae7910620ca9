// Package etcdtest starts real embedded etcd servers for tests: a single
// member or a cluster of several members on loopback, each with its data in
// a temporary directory removed when the test ends.
//
//	cli := etcdtest.Start(t).Client(t)
//
// # Clusters
//
//	c := etcdtest.StartCluster(t, 3)
//	c.Stop(t, 1) // stop one member; the others keep quorum
package etcdtest
