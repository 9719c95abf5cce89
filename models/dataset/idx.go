package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxIDXBytes bounds the payload of an IDX file, so that a corrupt or hostile
// header (or a gzip bomb) cannot make ReadIDX allocate without limit.
const MaxIDXBytes = 1 << 30

// IDX is the content of an IDX file of unsigned bytes (type code 0x08), the
// format of MNIST and Fashion-MNIST: a shape and the values in row-major
// order.
type IDX struct {
	Dims []int
	Data []byte
}

// ReadIDX reads an IDX file of unsigned bytes, gzip-compressed or not (the
// gzip magic number decides). Errors name the file.
func ReadIDX(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	idx, err := DecodeIDX(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return idx, nil
}

// DecodeIDX decodes an IDX stream of unsigned bytes, gzip-compressed or not.
// It reads exactly the payload the header announces and fails on a shorter
// or longer stream.
func DecodeIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: bad gzip stream: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReader(zr)
	}
	var head [4]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, fmt.Errorf("idx: short header: %w", err)
	}
	if head[0] != 0 || head[1] != 0 {
		return nil, fmt.Errorf("idx: bad magic number %x, want 0000 followed by type and rank", head)
	}
	if head[2] != 0x08 {
		return nil, fmt.Errorf("idx: element type 0x%02x not supported, want 0x08 (unsigned byte)", head[2])
	}
	rank := int(head[3])
	if rank == 0 {
		return nil, errors.New("idx: rank 0, want at least one dimension")
	}
	dims := make([]int, rank)
	size := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, fmt.Errorf("idx: short header: %w", err)
		}
		dims[i] = int(d)
		if d == 0 || size > MaxIDXBytes/int(d) {
			return nil, fmt.Errorf("idx: shape %v has no values or more than %d", dims[:i+1], MaxIDXBytes)
		}
		size *= int(d)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(br, data); err != nil {
		return nil, fmt.Errorf("idx: shape %v needs %d bytes of values: %w", dims, size, err)
	}
	if n, _ := br.Read(make([]byte, 1)); n != 0 {
		return nil, fmt.Errorf("idx: trailing bytes after the %d values of shape %v", size, dims)
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// EncodeIDX returns the uncompressed IDX encoding of unsigned bytes of the
// given shape; it is the inverse of DecodeIDX.
func EncodeIDX(dims []int, data []byte) ([]byte, error) {
	if len(dims) == 0 || len(dims) > 255 {
		return nil, fmt.Errorf("idx: rank %d, want 1 to 255", len(dims))
	}
	size := 1
	for _, d := range dims {
		if d <= 0 || d > 1<<31-1 {
			return nil, fmt.Errorf("idx: dimension %d out of range", d)
		}
		size *= d
	}
	if size != len(data) {
		return nil, fmt.Errorf("idx: shape %v holds %d values, got %d", dims, size, len(data))
	}
	var b bytes.Buffer
	b.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, uint32(d)) // writes to a bytes.Buffer cannot fail
	}
	b.Write(data)
	return b.Bytes(), nil
}
