// Package subset cuts the class-balanced subsets of an image-classification
// data set that package data embeds. It is shared by the generator
// (internal/mkembed) and by the test that checks the embedded files against
// their source.
package subset

import "fmt"

// Balanced returns the indices of the first perClass examples of each of
// the classes 0..classes-1, in file order. It returns an error if some
// class has fewer than perClass examples or a label is out of range.
func Balanced(labels []byte, classes, perClass int) ([]int, error) {
	count := make([]int, classes)
	idx := make([]int, 0, classes*perClass)
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fmt.Errorf("label %d of example %d outside [0, %d)", l, i, classes)
		}
		if count[l] < perClass {
			count[l]++
			idx = append(idx, i)
		}
	}
	for c, n := range count {
		if n < perClass {
			return nil, fmt.Errorf("class %d has only %d examples, want %d", c, n, perClass)
		}
	}
	return idx, nil
}

// Gather copies the records idx (each of size bytes) from body.
func Gather(body []byte, size int, idx []int) []byte {
	out := make([]byte, 0, len(idx)*size)
	for _, i := range idx {
		out = append(out, body[i*size:(i+1)*size]...)
	}
	return out
}
