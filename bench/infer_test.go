package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestInfer(t *testing.T) {
	res, err := Infer(context.Background(), InferOptions{Batch: 8, Threads: []int{1, 2}, MinTime: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Threads) != 2 || res.Threads[1].Threads != 2 || res.AccBits != 16 || res.Batch != 8 {
		t.Fatalf("result %+v", res)
	}
	// The A2Q+ hidden layer at P = 16 is certified: the 16-bit path runs it
	// on a 16-bit kernel; the first and last layers stay 32-bit.
	if !strings.HasSuffix(res.Acc16Impl, "int16") || !strings.HasSuffix(res.Acc32Impl, "int32") {
		t.Errorf("kernels %q and %q; layers %+v", res.Acc16Impl, res.Acc32Impl, res.Acc16Layers)
	}
	if l := res.Acc16Layers; len(l) != 3 || !strings.HasSuffix(l[0].Impl, "int32") || l[1].AccBitsExact > 16 {
		t.Errorf("acc16 layers %+v", l)
	}
	for _, r := range res.Threads {
		if !(r.Acc16ImagesPerSec > 0) || !(r.Acc32ImagesPerSec > 0) || !(r.FloatImagesPerSec > 0) ||
			r.Acc32AVX2ImagesPerSec == nil || !(*r.Acc32AVX2ImagesPerSec > 0) {
			t.Errorf("non-positive throughput %+v", r)
		}
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"acc16_images_per_sec"`, `"acc32_images_per_sec"`, `"float_images_per_sec"`, `"acc32_avx2_images_per_sec":`, `"acc16_impl"`} {
		if !strings.Contains(string(js), f) {
			t.Errorf("JSON %s lacks %s", js, f)
		}
	}
	if _, err := Infer(context.Background(), InferOptions{Threads: []int{0}}); err == nil {
		t.Error("zero threads accepted")
	}
}
