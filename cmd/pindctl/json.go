package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// jsonIndent is the indentation of pindctl's multi-line JSON.
const jsonIndent = "  "

// marshalJSON renders msg as protojson with every field present (unset ones
// as their zero value), re-formatted by encoding/json so the bytes are the
// same from build to build (protojson varies its whitespace on purpose):
// indented by two spaces when multiline, else compact on one line.
func marshalJSON(msg proto.Message, multiline bool) ([]byte, error) {
	raw, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	var b bytes.Buffer
	if multiline {
		err = json.Indent(&b, raw, "", jsonIndent)
	} else {
		err = json.Compact(&b, raw)
	}
	if err != nil {
		return nil, fmt.Errorf("encode JSON: %w", err)
	}
	return b.Bytes(), nil
}
