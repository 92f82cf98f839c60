package resproto

import (
	"encoding/json"
	"errors"
)

// Error is a RES error object, sent to clients as is and received from
// services as is.
type Error struct {
	Code    string          `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Message }

// UnmarshalJSON decodes an error object. A "data": null is the same as no
// data, so it is not passed on (Resgate drops it too).
func (e *Error) UnmarshalJSON(b []byte) error {
	type plain Error
	if err := json.Unmarshal(b, (*plain)(e)); err != nil {
		return err
	}
	if string(e.Data) == "null" {
		e.Data = nil
	}
	return nil
}

// Pre-defined RES error codes, plus the ones Resgate adds.
const (
	CodeAccessDenied              = "system.accessDenied"
	CodeInternalError             = "system.internalError"
	CodeInvalidParams             = "system.invalidParams"
	CodeInvalidQuery              = "system.invalidQuery"
	CodeMethodNotFound            = "system.methodNotFound"
	CodeNoSubscription            = "system.noSubscription"
	CodeNotFound                  = "system.notFound"
	CodeTimeout                   = "system.timeout"
	CodeInvalidRequest            = "system.invalidRequest"
	CodeUnsupportedProtocol       = "system.unsupportedProtocol"
	CodeSubjectTooLong            = "system.subjectTooLong"
	CodeDeleted                   = "system.deleted"
	CodeSubscriptionLimitExceeded = "system.subscriptionLimitExceeded"
	CodeDisposedSubscription      = "system.disposedSubscription"
	CodeBadRequest                = "system.badRequest"
	CodeMethodNotAllowed          = "system.methodNotAllowed"
	CodeServiceUnavailable        = "system.serviceUnavailable"
	CodeForbidden                 = "system.forbidden"
	CodeNotImplemented            = "system.notImplemented"
)

// Pre-defined errors with the messages Resgate uses.
var (
	ErrAccessDenied              = &Error{Code: CodeAccessDenied, Message: "Access denied"}
	ErrInternalError             = &Error{Code: CodeInternalError, Message: "Internal error"}
	ErrInvalidParams             = &Error{Code: CodeInvalidParams, Message: "Invalid parameters"}
	ErrInvalidQuery              = &Error{Code: CodeInvalidQuery, Message: "Invalid query"}
	ErrMethodNotFound            = &Error{Code: CodeMethodNotFound, Message: "Method not found"}
	ErrNoSubscription            = &Error{Code: CodeNoSubscription, Message: "No subscription"}
	ErrNotFound                  = &Error{Code: CodeNotFound, Message: "Not found"}
	ErrTimeout                   = &Error{Code: CodeTimeout, Message: "Request timeout"}
	ErrInvalidRequest            = &Error{Code: CodeInvalidRequest, Message: "Invalid request"}
	ErrUnsupportedProtocol       = &Error{Code: CodeUnsupportedProtocol, Message: "Unsupported protocol"}
	ErrSubjectTooLong            = &Error{Code: CodeSubjectTooLong, Message: "Subject too long"}
	ErrDeleted                   = &Error{Code: CodeDeleted, Message: "Deleted"}
	ErrSubscriptionLimitExceeded = &Error{Code: CodeSubscriptionLimitExceeded, Message: "Subscription limit exceeded"}
	ErrDisposedSubscription      = &Error{Code: CodeDisposedSubscription, Message: "Resource subscription is disposed"}
	ErrBadRequest                = &Error{Code: CodeBadRequest, Message: "Bad request"}
	ErrMethodNotAllowed          = &Error{Code: CodeMethodNotAllowed, Message: "Method not allowed"}
	ErrServiceUnavailable        = &Error{Code: CodeServiceUnavailable, Message: "Service unavailable"}
	ErrForbidden                 = &Error{Code: CodeForbidden, Message: "Forbidden"}
	ErrNotImplemented            = &Error{Code: CodeNotImplemented, Message: "Not implemented"}
)

// ToError converts any error to a RES error. Errors that are not RES errors
// become system.internalError carrying the original text, as Resgate does.
func ToError(err error) *Error {
	if err == nil {
		return nil
	}
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	return &Error{Code: CodeInternalError, Message: "Internal error: " + err.Error()}
}

// internalError makes a system.internalError with a detail message.
func internalError(msg string) *Error {
	return &Error{Code: CodeInternalError, Message: "Internal error: " + msg}
}

// IsCode reports whether err is a RES error with the given code.
func IsCode(err error, code string) bool {
	var re *Error
	return errors.As(err, &re) && re.Code == code
}
