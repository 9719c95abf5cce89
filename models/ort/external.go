package ort

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ModelFiles returns the ONNX file at path followed by every file holding
// external data of its tensors, sorted: the files whose bytes make up the
// model. External data locations are read from the graph (every tensor whose
// data_location is EXTERNAL, in initializers, attributes and subgraphs) and
// are relative to the ONNX file's folder. A referenced file that is missing,
// or that lies outside that folder (ONNX Runtime refuses to read those), is
// an error naming it. It does not need the ONNX Runtime library.
func ModelFiles(path string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("ort: %s: %w", path, err)
	}
	scanMu.Lock()
	defer scanMu.Unlock()
	sc, err := scanModel(abs)
	if err != nil {
		return nil, err
	}
	files := []string{abs}
	for _, loc := range sc.external {
		if !filepath.IsLocal(loc) {
			return nil, fmt.Errorf("ort: %s keeps tensor data in %q, outside its folder, where ONNX Runtime does not read it (fix: export the model again with its external data next to it)", abs, loc)
		}
		p := filepath.Join(filepath.Dir(abs), loc)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("ort: %s keeps tensor data in %q, which cannot be read: %w (fix: keep the external data files next to the ONNX file, as they were written)", abs, loc, err)
		}
		files = append(files, p)
	}
	return files, nil
}

// modelDigest returns the hex SHA-256 that identifies the model at path (an
// absolute path): the digest of the ONNX file itself when its tensors keep
// all their data inside it, else the SHA-256 of lines naming the file's
// digest and each external data file's location and digest.
func modelDigest(path string) (string, error) {
	scanMu.Lock()
	defer scanMu.Unlock()
	sc, err := scanModel(path)
	if err != nil || len(sc.external) == 0 {
		return sc.digest, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "graph %s\n", sc.digest)
	for _, loc := range sc.external {
		d, err := fileDigest(filepath.Join(filepath.Dir(path), loc))
		if err != nil {
			return "", fmt.Errorf("ort: %s keeps tensor data in %q: %w", path, loc, err)
		}
		fmt.Fprintf(h, "data %q %s\n", loc, d)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// GraphInfo returns the inputs and outputs of the top-level graph of the
// ONNX file at path, in the graph's order, read from the file without the
// ONNX Runtime library and without loading tensor data. Initializers the
// graph also lists as inputs (older exports do) are left out of inputs.
// DType is the element type in lower case ("float32", "int64", "float16",
// "double", ...), empty for values that are not tensors; Shape holds -1 for dynamic
// dimensions and is nil when the graph gives no shape.
func GraphInfo(path string) (inputs, outputs []Info, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("ort: %s: %w", path, err)
	}
	scanMu.Lock()
	defer scanMu.Unlock()
	sc, err := scanModel(abs)
	if err != nil {
		return nil, nil, err
	}
	return slices.Clone(sc.inputs), slices.Clone(sc.outputs), nil
}

// modelScan is what one pass over an ONNX file found.
type modelScan struct {
	// digest is the hex SHA-256 of the file.
	digest string
	// external lists the external data locations of its tensors, as
	// written (relative to the file's folder), sorted and without repeats.
	external []string
	// inputs and outputs describe the top-level graph's inputs (without
	// initializers) and outputs.
	inputs, outputs []Info
}

// scanState collects what the walk over one ONNX file finds.
type scanState struct {
	// locs holds the external data locations of its tensors.
	locs map[string]bool
	// inputs and outputs are the top-level graph's value infos, in order.
	inputs, outputs []*onnx.ValueInfoProto
	// initializers holds the names of the top-level graph's initializers.
	initializers map[string]bool
}

// Roles of a message in the walk: the model, its top-level graph, one of
// that graph's initializers, or anything else.
type scanRole int

const (
	roleOther scanRole = iota
	roleModel
	roleGraph
	roleInitializer
)

var (
	scanMu sync.Mutex
	// scans remembers each ONNX file's scan, and digests each external data
	// file's digest, by path, size and modification time.
	scans   = map[string]modelScan{}
	digests = map[string]string{}
)

// scanModel reads the ONNX file at path once, hashing it and collecting the
// external data locations of its tensors. Results are remembered per path,
// size and modification time. The caller holds scanMu.
func scanModel(path string) (modelScan, error) {
	stamp, err := fileStamp(path)
	if err != nil {
		return modelScan{}, err
	}
	if s, ok := scans[stamp]; ok {
		return s, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return modelScan{}, fmt.Errorf("ort: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	w := &wireReader{r: bufio.NewReaderSize(io.TeeReader(f, h), 1<<16)}
	st := &scanState{locs: map[string]bool{}, initializers: map[string]bool{}}
	if err := w.message(messageTypes().model, -1, roleModel, st); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the file ends in the middle of a field")
		}
		return modelScan{}, fmt.Errorf("ort: %s is not an ONNX model: %v (at byte %d)", path, err, w.pos)
	}
	s := modelScan{digest: hex.EncodeToString(h.Sum(nil))}
	for loc := range st.locs {
		s.external = append(s.external, loc)
	}
	slices.Sort(s.external)
	for _, vi := range st.inputs {
		if !st.initializers[vi.GetName()] {
			s.inputs = append(s.inputs, valueInfo(vi))
		}
	}
	for _, vi := range st.outputs {
		s.outputs = append(s.outputs, valueInfo(vi))
	}
	scans[stamp] = s
	return s, nil
}

// valueInfo describes a graph input or output as an Info.
func valueInfo(vi *onnx.ValueInfoProto) Info {
	info := Info{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return info
	}
	switch et := onnx.TensorProto_DataType(tt.GetElemType()); et {
	case onnx.TensorProto_FLOAT:
		info.DType = Float32
	case onnx.TensorProto_INT64:
		info.DType = Int64
	default:
		info.DType = DType(strings.ToLower(et.String()))
	}
	if shape := tt.GetShape(); shape != nil {
		info.Shape = make([]int64, 0, len(shape.GetDim()))
		for _, d := range shape.GetDim() {
			if v, ok := d.GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); ok {
				info.Shape = append(info.Shape, v.DimValue)
			} else {
				info.Shape = append(info.Shape, -1)
			}
		}
	}
	return info
}

// fileDigest returns the hex SHA-256 of the file at path, remembered per
// path, size and modification time. The caller holds scanMu.
func fileDigest(path string) (string, error) {
	stamp, err := fileStamp(path)
	if err != nil {
		return "", err
	}
	if d, ok := digests[stamp]; ok {
		return d, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("ort: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("ort: reading %s: %w", path, err)
	}
	d := hex.EncodeToString(h.Sum(nil))
	digests[stamp] = d
	return d, nil
}

// fileStamp identifies the version of the file at path by its path, size and
// modification time.
func fileStamp(path string) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("ort: %w", err)
	}
	return fmt.Sprintf("%s\x00%d\x00%d", path, info.Size(), info.ModTime().UnixNano()), nil
}

// Field numbers of onnx.proto read by the scan.
const (
	modelGraph         = 7  // ModelProto.graph
	graphInitializer   = 5  // GraphProto.initializer
	graphInput         = 11 // GraphProto.input
	graphOutput        = 12 // GraphProto.output
	tensorName         = 8  // TensorProto.name
	tensorExternalData = 13 // TensorProto.external_data
	tensorDataLocation = 14 // TensorProto.data_location
	entryKey           = 1  // StringStringEntryProto.key
	entryValue         = 2  // StringStringEntryProto.value
)

// maxEntryBytes bounds one external_data entry (a key and a short value), a
// tensor's name and a graph input's or output's description.
const maxEntryBytes = 1 << 20

// onnxTypes are the message descriptors the scan walks.
type onnxTypes struct {
	model, tensor protoreflect.MessageDescriptor
	// holdsTensors lists the messages that can contain a TensorProto,
	// directly or through other messages (TensorProto included).
	holdsTensors map[protoreflect.FullName]bool
}

var messageTypes = sync.OnceValue(func() *onnxTypes {
	t := &onnxTypes{
		model:        (&onnx.ModelProto{}).ProtoReflect().Descriptor(),
		tensor:       (&onnx.TensorProto{}).ProtoReflect().Descriptor(),
		holdsTensors: map[protoreflect.FullName]bool{},
	}
	var all []protoreflect.MessageDescriptor
	var add func(ms protoreflect.MessageDescriptors)
	add = func(ms protoreflect.MessageDescriptors) {
		for i := range ms.Len() {
			all = append(all, ms.Get(i))
			add(ms.Get(i).Messages())
		}
	}
	add(t.model.ParentFile().Messages())
	t.holdsTensors[t.tensor.FullName()] = true
	for changed := true; changed; {
		changed = false
		for _, md := range all {
			if t.holdsTensors[md.FullName()] {
				continue
			}
			fields := md.Fields()
			for i := range fields.Len() {
				if m := fields.Get(i).Message(); m != nil && t.holdsTensors[m.FullName()] {
					t.holdsTensors[md.FullName()] = true
					changed = true
					break
				}
			}
		}
	}
	return t
})

// wireReader walks protobuf wire format from a stream without keeping it:
// it descends only into messages that can hold tensors and skips every
// other field, so tensor data inside the file is read once and never stored.
type wireReader struct {
	r   *bufio.Reader
	pos int64
}

func (w *wireReader) uvarint() (uint64, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b, err := w.r.ReadByte()
		if err != nil {
			if shift > 0 {
				return 0, noEOF(err)
			}
			return 0, err
		}
		w.pos++
		if shift == 63 && b > 1 {
			return 0, errors.New("a varint overflows 64 bits")
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, nil
		}
	}
}

func (w *wireReader) skip(n int64) error {
	for n > 0 {
		k, err := w.r.Discard(int(min(n, 1<<30)))
		w.pos += int64(k)
		n -= int64(k)
		if err != nil {
			return err
		}
	}
	return nil
}

// message reads a message of type md spanning n bytes (n < 0: up to the
// end of the stream), playing role in the file, and adds what it finds to
// st: the external data locations of the tensors in it and, for the
// top-level graph, its inputs, outputs and initializer names.
func (w *wireReader) message(md protoreflect.MessageDescriptor, n int64, role scanRole, st *scanState) error {
	types := messageTypes()
	isTensor := md.FullName() == types.tensor.FullName()
	external := false
	var location, name string
	end := w.pos + n
	for n < 0 || w.pos < end {
		tag, err := w.uvarint()
		if err == io.EOF && n < 0 {
			break
		}
		if err != nil {
			return noEOF(err)
		}
		num, typ := protowire.Number(tag>>3), protowire.Type(tag&7)
		switch typ {
		case protowire.VarintType:
			v, err := w.uvarint()
			if err != nil {
				return noEOF(err)
			}
			if isTensor && num == tensorDataLocation {
				external = v == uint64(onnx.TensorProto_EXTERNAL)
			}
		case protowire.Fixed32Type:
			err = w.skip(4)
		case protowire.Fixed64Type:
			err = w.skip(8)
		case protowire.BytesType:
			var size uint64
			if size, err = w.uvarint(); err != nil {
				return noEOF(err)
			}
			if n >= 0 && size > uint64(end-w.pos) {
				return fmt.Errorf("field %d of %s is longer than its message", num, md.Name())
			}
			fd := md.Fields().ByNumber(num)
			switch {
			case isTensor && num == tensorExternalData:
				var key, value string
				if key, value, err = w.entry(int64(size)); err == nil && key == "location" {
					location = value
				}
			case role == roleInitializer && num == tensorName:
				var b []byte
				if b, err = w.bytes(int64(size)); err == nil {
					name = string(b)
				}
			case role == roleGraph && (num == graphInput || num == graphOutput):
				err = w.valueInfo(int64(size), num == graphInput, st)
			case fd != nil && fd.Message() != nil && types.holdsTensors[fd.Message().FullName()]:
				child := roleOther
				switch {
				case role == roleModel && num == modelGraph:
					child = roleGraph
				case role == roleGraph && num == graphInitializer:
					child = roleInitializer
				}
				err = w.message(fd.Message(), int64(size), child, st)
			default:
				err = w.skip(int64(size))
			}
		default:
			return fmt.Errorf("field %d of %s has wire type %d, which ONNX files do not use", num, md.Name(), typ)
		}
		if err != nil {
			return noEOF(err)
		}
	}
	if n >= 0 && w.pos != end {
		return fmt.Errorf("a field crosses the end of its %s", md.Name())
	}
	if external {
		if location == "" {
			return errors.New("a tensor's data is EXTERNAL but names no location")
		}
		st.locs[location] = true
	}
	if role == roleInitializer {
		st.initializers[name] = true
	}
	return nil
}

// bytes reads the next size bytes (at most maxEntryBytes).
func (w *wireReader) bytes(size int64) ([]byte, error) {
	if size > maxEntryBytes {
		return nil, fmt.Errorf("a name or description of %d bytes", size)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(w.r, b); err != nil {
		return nil, err
	}
	w.pos += size
	return b, nil
}

// valueInfo reads a ValueInfoProto of size bytes, a top-level graph input
// (input true) or output, into st.
func (w *wireReader) valueInfo(size int64, input bool, st *scanState) error {
	b, err := w.bytes(size)
	if err != nil {
		return err
	}
	vi := &onnx.ValueInfoProto{}
	if err := proto.Unmarshal(b, vi); err != nil {
		return fmt.Errorf("a graph input or output: %v", err)
	}
	if input {
		st.inputs = append(st.inputs, vi)
	} else {
		st.outputs = append(st.outputs, vi)
	}
	return nil
}

// entry reads a StringStringEntryProto of size bytes.
func (w *wireReader) entry(size int64) (key, value string, err error) {
	b, err := w.bytes(size)
	if err != nil {
		return "", "", err
	}
	for len(b) > 0 {
		num, typ, k := protowire.ConsumeTag(b)
		if k < 0 {
			return "", "", protowire.ParseError(k)
		}
		b = b[k:]
		if typ == protowire.BytesType && (num == entryKey || num == entryValue) {
			v, k := protowire.ConsumeBytes(b)
			if k < 0 {
				return "", "", protowire.ParseError(k)
			}
			if num == entryKey {
				key = string(v)
			} else {
				value = string(v)
			}
			b = b[k:]
			continue
		}
		k = protowire.ConsumeFieldValue(num, typ, b)
		if k < 0 {
			return "", "", protowire.ParseError(k)
		}
		b = b[k:]
	}
	return key, value, nil
}

// noEOF turns an end of stream inside a message into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
