package fleet

import (
	"log/slog"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/interceptor"
)

// Observer is an interceptor.Reporter that counts into a Tally what the
// rollpin interceptors change. Safe for concurrent use.
type Observer struct{ t *Tally }

var _ interceptor.Reporter = (*Observer)(nil)

// NewObserver returns an Observer counting into t.
func NewObserver(t *Tally) *Observer { return &Observer{t: t} }

// FieldDropped counts a field cleared by a downgrade.
func (o *Observer) FieldDropped(protoreflect.FieldDescriptor) { o.t.Inc(FieldsDropped) }

// EnumDowngraded counts an enum value replaced by a downgrade.
func (o *Observer) EnumDowngraded(protoreflect.FieldDescriptor, protoreflect.EnumValueDescriptor, protoreflect.EnumValueDescriptor) {
	o.t.Inc(EnumsDowngraded)
}

// DefaultFilled counts a declared default set for an older sender.
func (o *Observer) DefaultFilled(protoreflect.FieldDescriptor) { o.t.Inc(DefaultsFilled) }

// CallDowngraded does nothing: fields are counted one by one.
func (o *Observer) CallDowngraded(string) {}

// CallRejected does nothing: the caller classifies its own refusals.
func (o *Observer) CallRejected(string, interceptor.Reason) {}

func serverOptions(obs *Observer, log *slog.Logger) []interceptor.Option {
	return []interceptor.Option{interceptor.WithMetrics(obs), interceptor.WithLogger(log)}
}

func clientOptions(obs *Observer, log *slog.Logger) []interceptor.Option {
	opts := []interceptor.Option{interceptor.WithLogger(log)}
	if obs != nil {
		opts = append(opts, interceptor.WithMetrics(obs))
	}
	return opts
}
