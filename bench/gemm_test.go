package bench

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestGEMM(t *testing.T) {
	rep, err := GEMM(context.Background(), []int{48, 67}, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !(rep.FMAPeakGFLOPS > 0) {
		t.Errorf("FMA peak %v GFLOP/s", rep.FMAPeakGFLOPS)
	}
	nt := 1
	if runtime.NumCPU() > 1 {
		nt = 2
	}
	if len(rep.GEMM) != 2*nt {
		t.Fatalf("%d rows, want %d: %+v", len(rep.GEMM), 2*nt, rep.GEMM)
	}
	for i, r := range rep.GEMM {
		wantSize := []int{48, 67}[i/nt]
		wantThreads := 1
		if i%nt == 1 {
			wantThreads = runtime.NumCPU()
		}
		if r.Size != wantSize || r.Threads != wantThreads {
			t.Errorf("row %d is size %d threads %d, want %d and %d", i, r.Size, r.Threads, wantSize, wantThreads)
		}
		if !(r.A2QGFLOPS > 0) || !(r.GonumGFLOPS > 0) {
			t.Errorf("row %d: rates %+v", i, r)
		}
	}
}

func TestGEMMErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		sizes []int
		want  string
	}{
		{"zero size", context.Background(), []int{16, 0}, "size 0"},
		{"negative size", context.Background(), []int{-3}, "size -3"},
		{"canceled", ctx, []int{16}, "canceled"},
	}
	for _, tt := range tests {
		_, err := GEMM(tt.ctx, tt.sizes, time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tt.name, err, tt.want)
		}
	}
}
