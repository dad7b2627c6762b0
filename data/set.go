package data

import (
	"fmt"
)

// Set is an in-memory data set: N examples, each an image of C×H×W float32
// values in [0, 1], stored NCHW in X.
//
// A classification set has Labels (one per example, in [0, Classes)) and a
// nil Y. A super-resolution set has nil Labels and a target image of
// TC×TH×TW values per example in Y, in the same layout as X.
type Set struct {
	// Name identifies the data set in reports, e.g. "fashion-mnist".
	Name string
	// N is the number of examples; C, H and W the shape of one input.
	N, C, H, W int
	// X holds the inputs, N*C*H*W values.
	X []float32
	// Labels holds the class of each example (nil for super-resolution).
	Labels []int
	// Classes is the number of classes (0 for super-resolution).
	Classes int
	// Y holds the super-resolution targets, N*TC*TH*TW values (nil for
	// classification).
	Y []float32
	// TC, TH and TW are the shape of one target.
	TC, TH, TW int
}

// Size returns the number of values in one input, C*H*W.
func (s *Set) Size() int { return s.C * s.H * s.W }

// TargetSize returns the number of values in one super-resolution target,
// TC*TH*TW (0 for classification).
func (s *Set) TargetSize() int { return s.TC * s.TH * s.TW }

// Example returns a view of input i (C*H*W values, not a copy).
// It panics if i is out of range.
func (s *Set) Example(i int) []float32 {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("data: example index %d out of range [0, %d)", i, s.N))
	}
	n := s.Size()
	return s.X[i*n : (i+1)*n : (i+1)*n]
}

// Target returns a view of the super-resolution target of example i
// (TC*TH*TW values), or nil for a classification set.
// It panics if i is out of range.
func (s *Set) Target(i int) []float32 {
	if i < 0 || i >= s.N {
		panic(fmt.Sprintf("data: example index %d out of range [0, %d)", i, s.N))
	}
	if s.Y == nil {
		return nil
	}
	n := s.TargetSize()
	return s.Y[i*n : (i+1)*n : (i+1)*n]
}

// Validate checks that the set's fields agree: slice lengths match the
// shapes, labels lie in [0, Classes), values are finite and in [0, 1].
func (s *Set) Validate() error {
	if s.N < 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 {
		return fmt.Errorf("data: set %q: bad shape N=%d C=%d H=%d W=%d", s.Name, s.N, s.C, s.H, s.W)
	}
	if len(s.X) != s.N*s.Size() {
		return fmt.Errorf("data: set %q: len(X)=%d, want N*C*H*W=%d", s.Name, len(s.X), s.N*s.Size())
	}
	for i, v := range s.X {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("data: set %q: X[%d]=%v outside [0, 1]", s.Name, i, v)
		}
	}
	if s.Labels != nil {
		if len(s.Labels) != s.N {
			return fmt.Errorf("data: set %q: len(Labels)=%d, want N=%d", s.Name, len(s.Labels), s.N)
		}
		for i, l := range s.Labels {
			if l < 0 || l >= s.Classes {
				return fmt.Errorf("data: set %q: label %d of example %d outside [0, %d)", s.Name, l, i, s.Classes)
			}
		}
	}
	if s.Y != nil {
		if s.TC <= 0 || s.TH <= 0 || s.TW <= 0 {
			return fmt.Errorf("data: set %q: bad target shape TC=%d TH=%d TW=%d", s.Name, s.TC, s.TH, s.TW)
		}
		if len(s.Y) != s.N*s.TargetSize() {
			return fmt.Errorf("data: set %q: len(Y)=%d, want N*TC*TH*TW=%d", s.Name, len(s.Y), s.N*s.TargetSize())
		}
		for i, v := range s.Y {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("data: set %q: Y[%d]=%v outside [0, 1]", s.Name, i, v)
			}
		}
	}
	if s.Labels == nil && s.Y == nil && s.N > 0 {
		return fmt.Errorf("data: set %q: neither labels nor targets", s.Name)
	}
	return nil
}

// Subset returns a new set holding copies of the examples idx, in that
// order (indices may repeat). It panics if an index is out of range.
func (s *Set) Subset(idx []int) *Set {
	t := s.emptyLike(len(idx))
	n, tn := s.Size(), s.TargetSize()
	for j, i := range idx {
		copy(t.X[j*n:(j+1)*n], s.Example(i))
		if t.Labels != nil {
			t.Labels[j] = s.Labels[i]
		}
		if t.Y != nil {
			copy(t.Y[j*tn:(j+1)*tn], s.Target(i))
		}
	}
	return t
}

// Spread returns a new set of n examples spaced evenly over s (indices
// i·N/n), so that a set stored in class order, as the embedded ones are,
// keeps every class. For n ≤ 0 or n ≥ N it returns s itself.
func (s *Set) Spread(n int) *Set {
	if n <= 0 || n >= s.N {
		return s
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i * s.N / n
	}
	return s.Subset(idx)
}

// Split returns the first n examples as a and the remaining N−n as b. The
// two sets share storage with s (no copy). It panics unless 0 ≤ n ≤ N.
func (s *Set) Split(n int) (a, b *Set) {
	if n < 0 || n > s.N {
		panic(fmt.Sprintf("data: split point %d out of range [0, %d]", n, s.N))
	}
	return s.slice(0, n), s.slice(n, s.N)
}

// slice returns the examples [lo, hi) sharing storage with s.
func (s *Set) slice(lo, hi int) *Set {
	t := *s
	t.N = hi - lo
	n, tn := s.Size(), s.TargetSize()
	t.X = s.X[lo*n : hi*n : hi*n]
	if s.Labels != nil {
		t.Labels = s.Labels[lo:hi:hi]
	}
	if s.Y != nil {
		t.Y = s.Y[lo*tn : hi*tn : hi*tn]
	}
	return &t
}

// emptyLike returns a zeroed set with s's shapes and n examples.
func (s *Set) emptyLike(n int) *Set {
	t := &Set{Name: s.Name, N: n, C: s.C, H: s.H, W: s.W, Classes: s.Classes, TC: s.TC, TH: s.TH, TW: s.TW}
	t.X = make([]float32, n*s.Size())
	if s.Labels != nil {
		t.Labels = make([]int, n)
	}
	if s.Y != nil {
		t.Y = make([]float32, n*s.TargetSize())
	}
	return t
}
