package useragent

import (
	"strconv"
	"testing"

	mua "github.com/mileusna/useragent"
)

func BenchmarkParse(b *testing.B) {
	b.Run("uncached", func(b *testing.B) {
		p := New(0)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(realUAs[i%len(realUAs)].ua)
			i++
		}
	})
	b.Run("cached", func(b *testing.B) {
		p := New(1024)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(realUAs[i%len(realUAs)].ua)
			i++
		}
	})
	b.Run("cached parallel", func(b *testing.B) {
		p := New(1024)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				p.Parse(realUAs[i%len(realUAs)].ua)
				i++
			}
		})
	})
	b.Run("miss with eviction", func(b *testing.B) {
		p := New(1024)
		base := realUAs[0].ua
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p.Parse(base + strconv.Itoa(i))
			i++
		}
	})
	b.Run("4KiB hostile", func(b *testing.B) {
		p := New(0)
		ua := realUAs[0].ua
		for len(ua) < MaxLength {
			ua += " (compatible; x/1.0; Android; Mobile)"
		}
		b.ReportAllocs()
		for b.Loop() {
			p.Parse(ua)
		}
	})
}

// BenchmarkLibrary measures the underlying parser alone, for comparison.
func BenchmarkLibrary(b *testing.B) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		mua.Parse(realUAs[i%len(realUAs)].ua)
		i++
	}
}
