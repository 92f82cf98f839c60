// Package users holds the demo users of the authentication examples and
// checks their passwords, against bcrypt hashes only. (The example pages
// list the passwords: this is a demo.)
package users

import (
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// User is a known user.
type User struct {
	Name string
	Role string // "admin" or "user"
}

type entry struct {
	User
	hash string // bcrypt, cost 10
}

var known = map[string]entry{
	"alice": {User{"alice", "admin"}, "$2a$10$.xKOCdtX1PyCztxi85/NHunTJTw3xBI/hF9ZXuLLoZeu3yz2gzkNW"}, // wonderland
	"bob":   {User{"bob", "user"}, "$2a$10$XA9asuP/6NRhFpWP3NstJOPt0aIJrQ8LgidX7cY4oSXZxVd0MS6V."},    // builder
}

// dummy is compared against when the user does not exist, so that a wrong
// username takes as long to refuse as a wrong password.
const dummy = "$2a$10$8GzgjX9SfhwwrswnYc1yhOu1XZTo4f622oU06fUBhidE9mKuxIQFW"

// Check returns the user with this name and password; ok is false for an
// unknown user or a wrong password alike.
func Check(name, password string) (u User, ok bool) {
	e, found := known[strings.ToLower(strings.TrimSpace(name))]
	h := dummy
	if found {
		h = e.hash
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte(password)) != nil || !found {
		return User{}, false
	}
	return e.User, true
}
