package compat_test

import (
	"testing"

	"github.com/rollpin/rollpin/compat"
)

// BenchmarkCheck measures Check on the example pair; "link" is the baseline
// of linking both sets alone, which Check does first.
func BenchmarkCheck(b *testing.B) {
	prev, err := compat.ReadImage(exampleV1)
	if err != nil {
		b.Fatal(err)
	}
	cur, err := compat.ReadImage(exampleV2)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("link", func(b *testing.B) {
		for b.Loop() {
			if _, err := compat.NewFiles(prev); err != nil {
				b.Fatal(err)
			}
			if _, err := compat.NewFiles(cur); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if _, err := compat.Check(prev, cur); err != nil {
				b.Fatal(err)
			}
		}
	})
}
