// Package safetensors reads and writes float32 tensors in the safetensors
// format.
//
// # Format
//
// A file is an 8-byte little-endian header length n, n bytes of JSON header,
// then the raw tensor data. The header maps each tensor name to
// {"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, offsets counted
// from the end of the header; an optional "__metadata__" entry maps strings
// to strings. Write stores tensors in sorted name order, contiguously, and
// pads the header with spaces to a multiple of 8 bytes. Only F32 is
// supported; other dtypes are reported as errors on read.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"difflab/models/tensor"
)

type entry struct {
	DType   string `json:"dtype"`
	Shape   []int  `json:"shape"`
	Offsets [2]int `json:"data_offsets"`
}

// Encode returns the safetensors encoding of the tensors, with optional
// string metadata (nil for none).
func Encode(tensors map[string]*tensor.Tensor, meta map[string]string) ([]byte, error) {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	off := 0
	for _, n := range names {
		t := tensors[n]
		if n == "__metadata__" || n == "" {
			return nil, fmt.Errorf("safetensors: invalid tensor name %q", n)
		}
		if count(t.Shape) != len(t.Data) {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v holds %d values, data has %d", n, t.Shape, count(t.Shape), len(t.Data))
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		header[n] = entry{DType: "F32", Shape: shape, Offsets: [2]int{off, off + 4*len(t.Data)}}
		off += 4 * len(t.Data)
	}
	h, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	out := make([]byte, 8+len(h)+off)
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	copy(out[8:], h)
	p := 8 + len(h)
	for _, n := range names {
		for _, v := range tensors[n].Data {
			binary.LittleEndian.PutUint32(out[p:], math.Float32bits(v))
			p += 4
		}
	}
	return out, nil
}

// Decode parses a safetensors encoding holding F32 tensors and returns the
// tensors and the metadata (nil when absent).
func Decode(b []byte) (map[string]*tensor.Tensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("safetensors: truncated file (%d bytes)", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("safetensors: header length %d exceeds file size %d", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, nil, fmt.Errorf("safetensors: bad header: %w", err)
	}
	data := b[8+n:]
	var meta map[string]string
	out := map[string]*tensor.Tensor{}
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &meta); err != nil {
				return nil, nil, fmt.Errorf("safetensors: bad __metadata__: %w", err)
			}
			continue
		}
		var e entry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: bad header entry: %w", name, err)
		}
		if e.DType != "F32" {
			return nil, nil, fmt.Errorf("safetensors: tensor %q has dtype %s; only F32 is supported", name, e.DType)
		}
		for _, s := range e.Shape {
			if s < 0 {
				return nil, nil, fmt.Errorf("safetensors: tensor %q has negative dimension in shape %v", name, e.Shape)
			}
		}
		begin, end := e.Offsets[0], e.Offsets[1]
		if begin < 0 || end < begin || end > len(data) || end-begin != 4*count(e.Shape) {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: offsets [%d,%d] do not fit shape %v in %d data bytes", name, begin, end, e.Shape, len(data))
		}
		t := &tensor.Tensor{Shape: e.Shape, Data: make([]float32, count(e.Shape))}
		for i := range t.Data {
			t.Data[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[begin+4*i:]))
		}
		out[name] = t
	}
	return out, meta, nil
}

// WriteFile writes the tensors to path (see Encode).
func WriteFile(path string, tensors map[string]*tensor.Tensor, meta map[string]string) error {
	b, err := Encode(tensors, meta)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// ReadFile reads the tensors and metadata of the safetensors file at path.
func ReadFile(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	t, m, err := Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, m, nil
}

// ReadNames returns the sorted names of the tensors in the safetensors file
// at path, reading only its header.
func ReadNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil {
		return nil, fmt.Errorf("%s: safetensors: truncated file", path)
	}
	if st, err := f.Stat(); err != nil || n > uint64(st.Size()-8) {
		return nil, fmt.Errorf("%s: safetensors: header length %d exceeds the file", path, n)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, fmt.Errorf("%s: safetensors: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("%s: safetensors: bad header: %w", path, err)
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		if name != "__metadata__" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

func count(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}
