package compat_test

import (
	"fmt"

	"github.com/rollpin/rollpin/compat"
)

// Check compares two releases: here the example volume service's 1.4
// release against 1.3 (compatible), then a "release" that went back to 1.3.
func ExampleCheck() {
	v13, err := compat.ReadImage("../examples/volume/v1/volume.binpb")
	if err != nil {
		panic(err)
	}
	v14, err := compat.ReadImage("../examples/volume/v2/volume.binpb")
	if err != nil {
		panic(err)
	}
	findings, err := compat.Check(v13, v14)
	if err != nil {
		panic(err)
	}
	fmt.Println("1.3 → 1.4:", len(findings), "findings")

	findings, err = compat.Check(v14, v13)
	if err != nil {
		panic(err)
	}
	fmt.Println("1.4 → 1.3:", findings[0])
	// Output:
	// 1.3 → 1.4: 0 findings
	// 1.4 → 1.3: acme/volume/v1/volume.proto: acme.volume.v1: ROLLPIN_API_VERSION_NOT_BACKWARDS: api version 1.3 is below the previous release's 1.4; fix: set the api version to 1.4 or higher: versions never go back
}
