// Package orttest writes small ONNX models for the tests of packages that
// run models through ONNX Runtime.
package orttest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Input and Output are the names of the graph's input and output.
const (
	Input  = "x"
	Output = "y"
)

// WriteScale writes dir/model.onnx, a graph computing y = x * k for x of
// shape (batch, 1, 1, len(k)) float32 (a batch of one-row gray images, k
// multiplying each column), and returns its path. With location empty,
// k is stored inside the graph; otherwise in the file location (relative to
// dir), as an external data tensor, the way torch writes models over 2 GB.
// Models with the same k size and location have byte-identical graphs.
func WriteScale(dir string, k []float32, location string) (string, error) {
	raw := make([]byte, 4*len(k))
	for i, v := range k {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	init := &onnx.TensorProto{Name: "k", Dims: []int64{int64(len(k))}, DataType: int32(onnx.TensorProto_FLOAT)}
	if location == "" {
		init.RawData = raw
	} else {
		init.DataLocation = onnx.TensorProto_EXTERNAL
		init.ExternalData = []*onnx.StringStringEntryProto{
			{Key: "location", Value: location},
			{Key: "offset", Value: "0"},
			{Key: "length", Value: strconv.Itoa(len(raw))},
		}
		p := filepath.Join(dir, location)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			return "", err
		}
	}
	info := func(name string) *onnx.ValueInfoProto {
		shape := &onnx.TensorShapeProto{Dim: []*onnx.TensorShapeProto_Dimension{
			{Value: &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}},
			{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 1}},
			{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: 1}},
			{Value: &onnx.TensorShapeProto_Dimension_DimValue{DimValue: int64(len(k))}},
		}}
		return &onnx.ValueInfoProto{Name: name, Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{
			TensorType: &onnx.TypeProto_Tensor{ElemType: int32(onnx.TensorProto_FLOAT), Shape: shape}}}}
	}
	m := &onnx.ModelProto{
		IrVersion:   9,
		OpsetImport: []*onnx.OperatorSetIdProto{{Version: 20}},
		Graph: &onnx.GraphProto{
			Name:        "scale",
			Node:        []*onnx.NodeProto{{Name: "mul", OpType: "Mul", Input: []string{Input, "k"}, Output: []string{Output}}},
			Initializer: []*onnx.TensorProto{init},
			Input:       []*onnx.ValueInfoProto{info(Input)},
			Output:      []*onnx.ValueInfoProto{info(Output)},
		},
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("orttest: %w", err)
	}
	p := filepath.Join(dir, "model.onnx")
	return p, os.WriteFile(p, b, 0o644)
}
