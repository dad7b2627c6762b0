package bench

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestIntGEMM(t *testing.T) {
	res, err := IntGEMM(context.Background(), 37, 10, 160, []int{1, 2}, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2", len(res))
	}
	for i, r := range res {
		if r.M != 37 || r.N != 10 || r.K != 160 || r.Threads != i+1 {
			t.Errorf("result %d describes %+v", i, r)
		}
		if !strings.HasSuffix(r.Acc16Impl, "int16") || !strings.HasSuffix(r.Acc32Impl, "int32") {
			t.Errorf("result %d names kernels %q and %q", i, r.Acc16Impl, r.Acc32Impl)
		}
		if !(r.Acc16GOPS > 0) || !(r.Acc32GOPS > 0) {
			t.Errorf("result %d has non-positive throughput %+v", i, r)
		}
	}
	js, err := json.Marshal(res[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`"acc16_gops"`, `"acc32_gops"`, `"threads"`, `"m"`} {
		if !strings.Contains(string(js), f) {
			t.Errorf("JSON %s lacks %s", js, f)
		}
	}
}

func TestIntGEMMErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		m, n, k int
		threads []int
		want    string
	}{
		{"shape", context.Background(), 0, 4, 4, []int{1}, "must be positive"},
		{"no threads", context.Background(), 4, 4, 4, nil, "at least one thread"},
		{"bad threads", context.Background(), 4, 4, 4, []int{0}, "thread count 0"},
		{"cancelled", ctx, 4, 4, 4, []int{1}, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := IntGEMM(tc.ctx, tc.m, tc.n, tc.k, tc.threads, time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestReferenceIntGEMMShapes(t *testing.T) {
	s := ReferenceIntGEMMShapes(128)
	if len(s) != 2 || s[0].M != 15488 || s[0].N != 64 || s[0].K != 288 ||
		s[1].M != 128 || s[1].N != 10 || s[1].K != 1600 {
		t.Fatalf("shapes %+v", s)
	}
}
