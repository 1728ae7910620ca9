package pinsvc

import "time"

// etcdProbeInterval is how often the per-service metrics probe etcd.
const etcdProbeInterval = 5 * time.Second

// startOps starts what operators read besides the RPCs: the history
// recorder and, with Config.Registerer, the per-service metrics.
func (s *Server) startOps() {
	s.startHistory()
	if s.cfg.Registerer == nil {
		return
	}
	c := newServiceCollector(s)
	if err := s.cfg.Registerer.Register(c); err != nil {
		s.log.Warn("per-service metrics not registered", "err", err)
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run(s.ctx, etcdProbeInterval)
	}()
}
