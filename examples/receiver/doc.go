// Command receiver is a small webhook receiver for assethooks, to copy from:
// it verifies the Standard Webhooks signature of each request, refuses
// timestamps more than five minutes away from its clock, drops duplicate
// webhook-ids (answering 200 without processing them twice) and prints each
// event.
//
//	ASSETHOOKS_SIGNING_SECRET=whsec_… go run ./examples/receiver
//
// Configuration: -addr or ASSETHOOKS_RECEIVER_ADDR (default 127.0.0.1:9090),
// -secret or ASSETHOOKS_SIGNING_SECRET (required: the webhook's signing_secret),
// -basic or ASSETHOOKS_RECEIVER_BASIC ("user:password": require those HTTP
// Basic credentials, as a CMS would, and answer 401 without them).
//
// The verification is written from the Standard Webhooks specification and
// shares no code with the sender in package actions.
package main
