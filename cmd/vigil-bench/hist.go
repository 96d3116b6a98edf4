package main

import (
	"math"
	"math/bits"
	"time"
)

// The histogram is log-linear, in the manner of HdrHistogram: values below
// subCount nanoseconds have a bucket each, and every power-of-two range above
// that is split into subCount equal buckets. A bucket is therefore at most
// 1/subCount = 0.78% of its values wide, and reporting its midpoint is within
// 0.4% of any value that fell in it.
const (
	subBits    = 7
	subCount   = 1 << subBits
	numBuckets = (64 - subBits + 1) * subCount
)

// histogram records latencies with bounded relative error in fixed memory.
// It is not safe for concurrent use: each worker owns one, and they are
// merged after the workers have stopped.
type histogram struct {
	counts []uint64
	n      uint64
	sum    uint64 // nanoseconds
	min    uint64
	max    uint64
}

// newHistogram returns an empty histogram; its buckets are allocated up
// front so that recording never allocates.
func newHistogram() *histogram {
	return &histogram{counts: make([]uint64, numBuckets), min: math.MaxUint64}
}

// bucketOf returns the index of the bucket that holds v.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [subCount, 2*subCount)
	return (e+1)*subCount + int(v>>e) - subCount
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	e := uint(i/subCount - 1)
	m := uint64(i%subCount + subCount)
	return m << e, (m+1)<<e - 1
}

// record adds one latency.
func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// merge adds the values recorded in o to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// count returns the number of recorded values.
func (h *histogram) count() uint64 { return h.n }

// maximum returns the largest recorded value exactly, or 0 if none.
func (h *histogram) maximum() time.Duration { return time.Duration(h.max) }

// mean returns the average recorded value, or 0 if none.
func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// quantile returns the q-quantile (0 < q <= 1) by the nearest-rank method:
// the smallest recorded value v such that at least q*n values are <= v,
// approximated by the midpoint of its bucket and clamped to the exact
// minimum and maximum. It returns 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketBounds(i)
			v := lo + (hi-lo)/2
			return time.Duration(min(max(v, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
