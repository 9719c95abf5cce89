package tensor

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// NPY format version 1.0: magic "\x93NUMPY", version bytes 1 0, a little-endian
// uint16 header length, then an ASCII Python dict padded with spaces and ended
// by '\n' so that the data starts on a 64-byte boundary, then the raw
// little-endian C-order data.

// EncodeNPY returns the NPY encoding of a float32 ("<f4") or int64 ("<i8")
// array of the given shape.
func EncodeNPY(shape []int, data any) ([]byte, error) {
	var descr string
	var n int
	switch d := data.(type) {
	case []float32:
		descr, n = "<f4", len(d)
	case []int64:
		descr, n = "<i8", len(d)
	default:
		return nil, fmt.Errorf("npy: unsupported element type %T", data)
	}
	if Count(shape) != n {
		return nil, fmt.Errorf("npy: shape %v holds %d values, data has %d", shape, Count(shape), n)
	}
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = strconv.Itoa(s)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var buf bytes.Buffer
	buf.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&buf, binary.LittleEndian, uint16(len(header)))
	buf.WriteString(header)
	binary.Write(&buf, binary.LittleEndian, data)
	return buf.Bytes(), nil
}

var npyHeader = regexp.MustCompile(`'descr':\s*'([^']+)'.*'fortran_order':\s*(True|False).*'shape':\s*\(([^)]*)\)`)

// DecodeNPY parses an NPY file holding "<f4" or "<i8" data in C order and
// returns its shape and data ([]float32 or []int64).
func DecodeNPY(b []byte) ([]int, any, error) {
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		return nil, nil, fmt.Errorf("not an NPY file (bad magic)")
	}
	var hlen, off int
	switch b[6] {
	case 1:
		hlen, off = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return nil, nil, fmt.Errorf("truncated NPY header")
		}
		hlen, off = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return nil, nil, fmt.Errorf("unsupported NPY version %d", b[6])
	}
	if off+hlen > len(b) {
		return nil, nil, fmt.Errorf("truncated NPY header")
	}
	m := npyHeader.FindStringSubmatch(string(b[off : off+hlen]))
	if m == nil {
		return nil, nil, fmt.Errorf("unreadable NPY header %q", b[off:off+hlen])
	}
	if m[2] == "True" {
		return nil, nil, fmt.Errorf("fortran-order NPY arrays are not supported")
	}
	var shape []int
	for _, f := range strings.Split(m[3], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 {
			return nil, nil, fmt.Errorf("bad NPY shape %q", m[3])
		}
		shape = append(shape, v)
	}
	body := b[off+hlen:]
	n := Count(shape)
	switch m[1] {
	case "<f4":
		if len(body) != 4*n {
			return nil, nil, fmt.Errorf("NPY data is %d bytes, shape %v needs %d", len(body), shape, 4*n)
		}
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[4*i:]))
		}
		return shape, out, nil
	case "<i8":
		if len(body) != 8*n {
			return nil, nil, fmt.Errorf("NPY data is %d bytes, shape %v needs %d", len(body), shape, 8*n)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(body[8*i:]))
		}
		return shape, out, nil
	}
	return nil, nil, fmt.Errorf("unsupported NPY dtype %q (want <f4 or <i8)", m[1])
}

// Count is the number of elements of an array of the given shape.
func Count(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}
