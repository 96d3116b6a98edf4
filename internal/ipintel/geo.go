package ipintel

import (
	"math"
	"time"
)

// EarthRadiusKM is the mean Earth radius (IUGG R1 = 6,371.0088 km) used by
// [Distance].
const EarthRadiusKM = 6371.0088

// Distance returns the great-circle distance in kilometres between two
// points given in degrees, by the haversine formula on a sphere of radius
// [EarthRadiusKM]. The spherical model is within about 0.5% of the
// ellipsoidal distance, ample for GeoIP locations that are themselves
// approximate. Any NaN input gives NaN.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	φ1, φ2 := lat1*rad, lat2*rad
	dφ := (lat2 - lat1) * rad
	dλ := (lon2 - lon1) * rad
	sφ, sλ := math.Sin(dφ/2), math.Sin(dλ/2)
	h := sφ*sφ + math.Cos(φ1)*math.Cos(φ2)*sλ*sλ
	// Rounding can push h just outside [0, 1] for antipodal points.
	h = math.Min(1, math.Max(0, h))
	return 2 * EarthRadiusKM * math.Asin(math.Sqrt(h))
}

// SpeedKMH returns the speed in km/h needed to cover distanceKM in elapsed.
// The order of the two events does not matter: a negative elapsed (events
// stored out of order, clock skew) is used as its absolute value. A zero
// elapsed gives +Inf for a positive distance (instant travel) and 0 for no
// distance.
func SpeedKMH(distanceKM float64, elapsed time.Duration) float64 {
	if elapsed < 0 {
		elapsed = -elapsed
		if elapsed < 0 { // -math.MinInt64 overflows
			elapsed = math.MaxInt64
		}
	}
	if distanceKM <= 0 {
		return 0
	}
	if elapsed == 0 {
		return math.Inf(1)
	}
	return distanceKM / elapsed.Hours()
}
