package app

import (
	"crypto/sha256"
	"crypto/subtle"
)

// User is an account of the toy user table. Vigil knows the user only by
// ID, the stable identifier the application sends as the track userId.
type User struct {
	ID       string // the Vigil userId: stable, never shown, never reused
	Username string // what the user types on the login form
	Email    string // sent with track, so that the hosted page can enroll email OTP
	Password string // TOY: plaintext, see users.check
}

// The demo account of DemoUsers.
const (
	DemoUserID   = "usr_alice"
	DemoUsername = "alice"
	DemoPassword = "correct-horse"
	DemoEmail    = "alice@example.com"
)

// DemoUsers returns the user table New uses when Config.Users is empty:
// one account, alice / correct-horse.
func DemoUsers() []User {
	return []User{{ID: DemoUserID, Username: DemoUsername, Email: DemoEmail, Password: DemoPassword}}
}

// users is the toy password check of this example: an in-memory table
// with plaintext passwords. It stands for whatever the application really
// uses (a database row with an Argon2id or bcrypt hash, an LDAP bind, …):
// Vigil adds risk-based step-up after the first factor, it does not
// replace it. It is read-only after construction and safe for concurrent
// use.
type users struct {
	byName map[string]User
	byID   map[string]User
}

// newUsers indexes list by username and by ID.
func newUsers(list []User) *users {
	u := &users{byName: make(map[string]User, len(list)), byID: make(map[string]User, len(list))}
	for _, x := range list {
		u.byName[x.Username] = x
		u.byID[x.ID] = x
	}
	return u
}

// byUserID returns the user with this ID.
func (u *users) byUserID(id string) (User, bool) {
	x, ok := u.byID[id]
	return x, ok
}

// check returns the user with this username and password. Passwords are
// compared as SHA-256 digests in constant time, and an unknown username
// costs the same as a wrong password, so that neither the answer nor its
// timing tells which usernames exist.
func (u *users) check(username, password string) (User, bool) {
	x, found := u.byName[username]
	want := sha256.Sum256([]byte(x.Password))
	got := sha256.Sum256([]byte(password))
	match := subtle.ConstantTimeCompare(want[:], got[:]) == 1
	if !found || x.Password == "" || !match {
		return User{}, false
	}
	return x, true
}
