package main

import (
	"math"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for range 100000 {
		v := rng.Uint64() >> rng.IntN(64)
		i := bucketOf(v)
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("bucketOf(%d) = %d with bounds [%d, %d]", v, i, lo, hi)
		}
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of range", v, i)
		}
		if lo > 0 && float64(hi-lo)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d", i, lo, hi, subCount)
		}
	}
	// Adjacent buckets must tile the number line.
	for i := 1; i < numBuckets; i++ {
		_, prevHi := bucketBounds(i - 1)
		lo, _ := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, bucket %d ends at %d", i, lo, i-1, prevHi)
		}
	}
}

func TestQuantileUniform(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 100000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0.5, 50 * time.Millisecond},
		{0.9, 90 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{0.999, 99900 * time.Microsecond},
		{1, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		got := h.quantile(tt.q)
		if relErr(got, tt.want) > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", tt.q, got, tt.want)
		}
	}
	if got, want := h.maximum(), 100*time.Millisecond; got != want {
		t.Errorf("maximum() = %v, want %v", got, want)
	}
	if got, want := h.mean(), 50000500*time.Nanosecond; got != want {
		t.Errorf("mean() = %v, want %v", got, want)
	}
}

// TestQuantileMerged compares merged per-worker histograms with the exact
// nearest-rank percentiles of a sorted slice of long-tailed latencies.
func TestQuantileMerged(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	var all []time.Duration
	merged := newHistogram()
	for range 8 {
		h := newHistogram()
		for range 20000 {
			d := time.Duration(math.Exp(rng.NormFloat64()*1.2+14)) + 50*time.Microsecond
			h.record(d)
			all = append(all, d)
		}
		merged.merge(h)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(math.Ceil(q * float64(len(all))))
		want := all[rank-1]
		if got := merged.quantile(q); relErr(got, want) > 0.01 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", q, got, want)
		}
	}
	if got, want := merged.count(), uint64(len(all)); got != want {
		t.Errorf("count() = %d, want %d", got, want)
	}
	if got, want := merged.maximum(), all[len(all)-1]; got != want {
		t.Errorf("maximum() = %v, want %v", got, want)
	}
}

func TestQuantileEmptyAndSingle(t *testing.T) {
	h := newHistogram()
	if got := h.quantile(0.99); got != 0 {
		t.Errorf("empty quantile(0.99) = %v, want 0", got)
	}
	h.record(1234567 * time.Nanosecond)
	for _, q := range []float64{0.01, 0.5, 1} {
		if got, want := h.quantile(q), 1234567*time.Nanosecond; got != want {
			t.Errorf("single quantile(%v) = %v, want %v (clamped to the exact value)", q, got, want)
		}
	}
}

func relErr(got, want time.Duration) float64 {
	return math.Abs(float64(got-want)) / float64(want)
}
