package vigil

import (
	"context"
	"errors"
	"time"
)

// GeoPoint is an approximate location in degrees (WGS 84).
type GeoPoint struct {
	Latitude  float64
	Longitude float64
}

// RiskNeeds says which parts of a user's history a track's data points read,
// so that a RiskStateService loads only those.
type RiskNeeds uint16

// The parts of RiskState, as RiskNeeds bits.
const (
	NeedUser             RiskNeeds = 1 << iota // User, LastVerifiedAt
	NeedDevice                                 // DeviceSeen, DeviceVerified, DeviceCount
	NeedIP                                     // IPVerified, VerifiedLocations
	NeedActionCounts                           // ActionsLastHour, ActionsLastDay
	NeedFailedChallenges                       // FailedChallengesLastHour
	NeedDistinctIPs                            // DistinctIPsLastDay
	NeedAuthenticators                         // Authenticators
)

// MaxVelocityCount bounds the velocity counts of a RiskState: they are
// counted over at most this many of the user's most recent actions, so that
// a very busy user's counts cost a bounded read.
const MaxVelocityCount = 10000

// MaxVerifiedLocations is the most recent verified locations a RiskState
// holds.
const MaxVerifiedLocations = 50

// RiskQuery asks for the history of one user that a track needs, as it was
// before the track.
type RiskQuery struct {
	UserID     string
	ActionCode string
	DeviceID   string // "": no device part
	IPAddress  string // "": no IP part
	Now        time.Time
	Need       RiskNeeds
	// Fresh asks for the stored state, with no Version: set when an
	// action decided on a cached state is decided again after
	// ErrStaleState, so that the second decision cannot be refused too.
	Fresh bool
}

// RiskState is a user's history as a track's data points see it. Only the
// parts asked for in RiskQuery.Need are filled in; the rest are zero.
type RiskState struct {
	// User is the stored user; nil if the user has never been seen.
	User *User
	// LastVerifiedAt is the time of the user's last successful challenge
	// (zero: never).
	LastVerifiedAt time.Time

	// DeviceSeen is whether an earlier action of the user came from
	// RiskQuery.DeviceID, DeviceVerified whether a challenge succeeded on
	// it. DeviceCount is the number of distinct devices the user's earlier
	// actions came from.
	DeviceSeen     bool
	DeviceVerified bool
	DeviceCount    int

	// IPVerified is whether a challenge of the user succeeded from
	// RiskQuery.IPAddress. VerifiedLocations are the known locations of
	// the user's most recently verified IP addresses, newest first (at
	// most MaxVerifiedLocations).
	IPVerified        bool
	VerifiedLocations []VerifiedLocation

	// ActionsLastHour and ActionsLastDay count the user's earlier actions
	// with RiskQuery.ActionCode created in the hour and the day before
	// RiskQuery.Now, at most MaxVelocityCount.
	ActionsLastHour int
	ActionsLastDay  int
	// FailedChallengesLastHour counts the user's actions that moved to
	// CHALLENGE_FAILED in the hour before RiskQuery.Now.
	FailedChallengesLastHour int
	// DistinctIPsLastDay is the number of distinct IP addresses of the
	// user's actions in the day before RiskQuery.Now.
	DistinctIPsLastDay int

	// Authenticators are the user's authenticators, oldest first, with
	// only Method and IsDefault filled in: what deciding an action needs.
	Authenticators []*Authenticator

	// Version, when not empty, says that the state came from a cache
	// instead of a read of the stored state, and names the stored state it
	// was taken from. An action decided on it carries it in
	// Action.StateVersion: ActionService.CreateAction then stores the
	// action only if the user's stored state is still that one, and
	// returns ErrStaleState otherwise, so that the caller decides again.
	Version string
}

// ErrStaleState is CreateAction's error for an action whose StateVersion
// names a state of its user that has changed since: nothing was stored,
// and the track is to be decided again on the stored state
// (RiskQuery.Fresh). It never reaches a client.
var ErrStaleState = errors.New("vigil: the user's state changed since the action was decided")

// VerifiedLocation is where a user last verified from one IP address, and
// when.
type VerifiedLocation struct {
	GeoPoint
	At time.Time
}

// RiskStateService reads user history for the data points of the tenant in
// the context.
type RiskStateService interface {
	// FindRiskState returns the parts of a user's history that q.Need
	// names, in one read. A user never seen gives an empty state, not an
	// error.
	FindRiskState(ctx context.Context, q *RiskQuery) (*RiskState, error)
}
