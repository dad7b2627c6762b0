package tensor

import "sync"

// For splits [0, n) into at most threads contiguous chunks and runs fn on
// each in its own goroutine, returning when all are done. With threads <= 1
// or a small n it runs fn(0, n) on the calling goroutine.
func For(threads, n int, fn func(lo, hi int)) {
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + threads - 1) / threads
	for lo := chunk; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, hi)
	}
	fn(0, min(chunk, n))
	wg.Wait()
}
