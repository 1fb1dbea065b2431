package engine

// DeliveryID exposes deliveryID to the external tests.
var DeliveryID = deliveryID
