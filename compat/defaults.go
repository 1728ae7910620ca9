package compat

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rollpin/rollpin/backport"
)

// parseDefault parses the text of a field's default option into the value
// the receiver fills, by the engine's own rules (backport.ParseDefault).
func parseDefault(fd protoreflect.FieldDescriptor, text string) (protoreflect.Value, error) {
	return backport.ParseDefault(fd, text)
}
