package volumepb

// This file is written by hand (buf generate leaves it alone): the hooks of
// the fields whose downgrade the annotations cannot express.

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
)

func init() {
	for _, name := range []protoreflect.FullName{
		"acme.volume.v1.CreateVolumeRequest",
		"acme.volume.v1.Volume",
	} {
		backport.RegisterDowngrader(name, FoldSizeMiB)
		backport.RegisterUpgrader(name, UnfoldSizeGB)
	}
}

// FoldSizeMiB is the downgrade hook of size_mib (ON_DOWNGRADE_CUSTOM) in
// CreateVolumeRequest and Volume: a 1.3 peer only knows size_gb, so the size
// is rounded up to whole GiB there (a volume is never smaller than asked).
// The engine then clears size_mib. It works by field name, so it serves
// generated and dynamicpb messages alike.
func FoldSizeMiB(m protoreflect.Message, _ backport.Manifest) error {
	fields := m.Descriptor().Fields()
	mib, gb := fields.ByName("size_mib"), fields.ByName("size_gb")
	if mib == nil || gb == nil {
		return nil
	}
	if n := m.Get(mib).Int(); n > 0 {
		m.Set(gb, protoreflect.ValueOfInt64((n+1023)/1024))
	}
	return nil
}

// UnfoldSizeGB is the upgrade hook of the same messages: from a 1.3 sender,
// which only knows size_gb, it sets size_mib to the same size.
func UnfoldSizeGB(m protoreflect.Message, _ backport.Manifest) error {
	fields := m.Descriptor().Fields()
	mib, gb := fields.ByName("size_mib"), fields.ByName("size_gb")
	if mib == nil || gb == nil {
		return nil
	}
	if !m.Has(mib) && m.Get(gb).Int() > 0 {
		m.Set(mib, protoreflect.ValueOfInt64(m.Get(gb).Int()*1024))
	}
	return nil
}
