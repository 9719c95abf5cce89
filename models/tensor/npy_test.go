package tensor

import (
	"reflect"
	"strings"
	"testing"
)

func TestNPYRoundTrip(t *testing.T) {
	for _, c := range []struct {
		shape []int
		data  any
	}{
		{[]int{2, 3}, []float32{1, -2, 3.5, 0, 1e-7, -1e9}},
		{[]int{4}, []int64{0, -1, 1 << 40, 7}},
		{[]int{0}, []float32{}},
	} {
		b, err := EncodeNPY(c.shape, c.data)
		if err != nil {
			t.Fatal(err)
		}
		shape, data, err := DecodeNPY(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(shape, c.shape) || !reflect.DeepEqual(data, c.data) {
			t.Errorf("round trip of %v %v gave %v %v", c.shape, c.data, shape, data)
		}
	}
}

func TestNPYRejectsMismatchAndForeignData(t *testing.T) {
	if _, err := EncodeNPY([]int{2, 2}, []float32{1, 2, 3}); err == nil || !strings.Contains(err.Error(), "holds 4 values") {
		t.Errorf("shape mismatch: %v", err)
	}
	b, _ := EncodeNPY([]int{2}, []float32{1, 2})
	if _, _, err := DecodeNPY(b[:len(b)-1]); err == nil {
		t.Error("truncated data decoded")
	}
	if _, _, err := DecodeNPY([]byte("not numpy")); err == nil {
		t.Error("foreign bytes decoded")
	}
}
