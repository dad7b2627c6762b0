package checkpoint

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/a2qtoolkit/a2q/tensor"
)

func sample() *Checkpoint {
	return &Checkpoint{
		Meta: map[string]string{"config": `{"model":"cnn"}`},
		Tensors: map[string]*tensor.Tensor{
			"conv1.weight": tensor.FromData([]float32{1, -2, 3.5, 0, 1e-9, -7}, 2, 3),
			"fc.bias":      tensor.FromData([]float32{0.25}, 1),
		},
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.ckpt")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Meta["config"] != `{"model":"cnn"}` || c.Meta["version"] != Version {
		t.Errorf("metadata %v", c.Meta)
	}
	for name, want := range sample().Tensors {
		got := c.Tensors[name]
		if got == nil || !slices.Equal(got.Shape, want.Shape) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		for i := range want.Data {
			if got.Data[i] != want.Data[i] {
				t.Errorf("%s[%d] = %v, want %v", name, i, got.Data[i], want.Data[i])
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"header too long", append([]byte{0xff, 0xff, 0, 0, 0, 0, 0, 0}, good[8:]...), "does not fit"},
		{"truncated data", good[:len(good)-3], "outside"},
		{"not json", append(append([]byte{}, good[:8]...), strings.Repeat("x", len(good)-8)...), "JSON"},
	} {
		_, err := Decode(c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := sample().Encode()
	f.Add(good)
	f.Add(good[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			return
		}
		again, err := c.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
	})
}
