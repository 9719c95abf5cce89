// Package onnxexport writes ONNX models from Go: a small graph builder
// (Graph) and the export of difflab's UNets (UNet) with weights named as in
// the PyTorch reference's state_dict.
//
// # Overview
//
// Files use ONNX opset 20 (Gelu is a native operator there), IR version 9,
// float32 weights stored as raw-data initializers. Dynamic dimensions (the
// batch) are written as the symbolic dimension "batch". ONNX Runtime 1.30
// runs them; Debian's older python3-onnx checker does not know opset 20.
package onnxexport

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// Opset is the ONNX operator set version of the files this package writes.
const Opset = 20

// irVersion is the ONNX IR version matching Opset.
const irVersion = 9

// Elem is an ONNX tensor element type.
type Elem int32

// The element types graphs use.
const (
	Float32 Elem = Elem(onnx.TensorProto_FLOAT)
	Int64   Elem = Elem(onnx.TensorProto_INT64)
)

// Batch is the dimension value that marks a dynamic (batch) dimension in
// Graph.Input and Graph.Output.
const Batch = -1

// Graph builds an ONNX graph node by node. Node names and intermediate value
// names are generated; inputs, outputs and initializers keep the names given.
type Graph struct {
	g   *onnx.GraphProto
	seq int
}

// NewGraph returns an empty graph called name.
func NewGraph(name string) *Graph {
	return &Graph{g: &onnx.GraphProto{Name: name}}
}

// Input declares a graph input; a dimension equal to Batch is dynamic. It
// returns name.
func (g *Graph) Input(name string, elem Elem, dims ...int64) string {
	g.g.Input = append(g.g.Input, valueInfo(name, elem, dims))
	return name
}

// Output declares value name as a graph output of the given element type and
// dimensions (Batch marks a dynamic one).
func (g *Graph) Output(name string, elem Elem, dims ...int64) {
	g.g.Output = append(g.g.Output, valueInfo(name, elem, dims))
}

func valueInfo(name string, elem Elem, dims []int64) *onnx.ValueInfoProto {
	shape := &onnx.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnx.TensorShapeProto_Dimension{}
		if d == Batch {
			dim.Value = &onnx.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}
		} else {
			dim.Value = &onnx.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnx.ValueInfoProto{
		Name: name,
		Type: &onnx.TypeProto{Value: &onnx.TypeProto_TensorType{TensorType: &onnx.TypeProto_Tensor{ElemType: int32(elem), Shape: shape}}},
	}
}

// Const adds a float32 initializer called name with the given shape and
// returns its name. It panics if len(data) does not match the shape: that is
// a mistake in the calling code.
func (g *Graph) Const(name string, shape []int, data []float32) string {
	n := 1
	dims := make([]int64, len(shape))
	for i, s := range shape {
		n *= s
		dims[i] = int64(s)
	}
	if n != len(data) {
		panic(fmt.Sprintf("onnxexport: constant %q: shape %v needs %d values, got %d", name, shape, n, len(data)))
	}
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	g.g.Initializer = append(g.g.Initializer, &onnx.TensorProto{Name: name, Dims: dims, DataType: int32(onnx.TensorProto_FLOAT), RawData: raw})
	return name
}

// ConstInt64 adds a one-dimensional int64 initializer called name (for
// example the target shape of a Reshape) and returns its name.
func (g *Graph) ConstInt64(name string, data ...int64) string {
	g.g.Initializer = append(g.g.Initializer, &onnx.TensorProto{Name: name, Dims: []int64{int64(len(data))}, DataType: int32(onnx.TensorProto_INT64), Int64Data: data})
	return name
}

// Attr is a node attribute; make one with Int, Ints or Float.
type Attr = *onnx.AttributeProto

// Int returns an integer attribute.
func Int(name string, v int64) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INT, I: v}
}

// Ints returns an integer-list attribute.
func Ints(name string, v ...int64) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_INTS, Ints: v}
}

// Float returns a float attribute.
func Float(name string, v float32) Attr {
	return &onnx.AttributeProto{Name: name, Type: onnx.AttributeProto_FLOAT, F: v}
}

// Node appends a node of operator op and returns the name of its (single)
// output, a generated name.
func (g *Graph) Node(op string, inputs []string, attrs ...Attr) string {
	return g.NodeTo(fmt.Sprintf("%s_%d", op, g.seq+1), op, inputs, attrs...)
}

// NodeTo appends a node of operator op whose output is called out (use it
// for graph outputs) and returns out.
func (g *Graph) NodeTo(out, op string, inputs []string, attrs ...Attr) string {
	g.seq++
	g.g.Node = append(g.g.Node, &onnx.NodeProto{
		Name:      fmt.Sprintf("n%d_%s", g.seq, op),
		OpType:    op,
		Input:     inputs,
		Output:    []string{out},
		Attribute: attrs,
	})
	return out
}

// Nodes appends a node of operator op with n outputs, such as Split, and
// returns their generated names.
func (g *Graph) Nodes(op string, inputs []string, n int, attrs ...Attr) []string {
	g.seq++
	outs := make([]string, n)
	for i := range outs {
		outs[i] = fmt.Sprintf("%s_%d_%d", op, g.seq, i)
	}
	g.g.Node = append(g.g.Node, &onnx.NodeProto{
		Name:      fmt.Sprintf("n%d_%s", g.seq, op),
		OpType:    op,
		Input:     inputs,
		Output:    outs,
		Attribute: attrs,
	})
	return outs
}

// Marshal returns the ONNX model file holding the graph.
func (g *Graph) Marshal() ([]byte, error) {
	m := &onnx.ModelProto{
		IrVersion:    irVersion,
		OpsetImport:  []*onnx.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName: "difflab",
		Graph:        g.g,
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: encoding graph %s: %w", g.g.Name, err)
	}
	return b, nil
}
