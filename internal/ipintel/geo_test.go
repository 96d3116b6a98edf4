package ipintel

import (
	"math"
	"testing"
	"time"
)

func TestDistance(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want, tolerance        float64
	}{
		{"Auckland-Sydney", -36.8485, 174.7633, -33.8688, 151.2093, 2160, 15},
		{"London-New York", 51.5074, -0.1278, 40.7128, -74.0060, 5570, 15},
		{"across the antimeridian", 0, 179.5, 0, -179.5, 111.2, 0.5},
		{"same point", 10, 20, 10, 20, 0, 0},
		{"antipodes", 0, 0, 0, 180, math.Pi * EarthRadiusKM, 0.001},
		{"pole to pole", 90, 0, -90, 0, math.Pi * EarthRadiusKM, 0.001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Distance(tt.lat1, tt.lon1, tt.lat2, tt.lon2)
			if math.Abs(got-tt.want) > tt.tolerance {
				t.Errorf("Distance = %.1f km, want %.1f ± %.1f", got, tt.want, tt.tolerance)
			}
			if back := Distance(tt.lat2, tt.lon2, tt.lat1, tt.lon1); math.Abs(back-got) > 1e-9 {
				t.Errorf("Distance is not symmetric: %v vs %v", got, back)
			}
		})
	}
	if got := Distance(math.NaN(), 0, 0, 0); !math.IsNaN(got) {
		t.Errorf("Distance(NaN) = %v, want NaN", got)
	}
}

func TestSpeedKMH(t *testing.T) {
	tests := []struct {
		name    string
		km      float64
		elapsed time.Duration
		want    float64
	}{
		{"Auckland-Sydney in 3h", 2160, 3 * time.Hour, 720},
		{"out of order", 2160, -3 * time.Hour, 720},
		{"30 min", 500, 30 * time.Minute, 1000},
		{"instant", 10, 0, math.Inf(1)},
		{"no movement", 0, 0, 0},
		{"no movement over time", 0, time.Hour, 0},
		{"min duration", 1, math.MinInt64, 1 / time.Duration(math.MaxInt64).Hours()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SpeedKMH(tt.km, tt.elapsed); got != tt.want && math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("SpeedKMH(%v, %v) = %v, want %v", tt.km, tt.elapsed, got, tt.want)
			}
		})
	}
}
