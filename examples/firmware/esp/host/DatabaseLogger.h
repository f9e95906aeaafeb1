// Host shim for the remote database the firmware logs to: each write is a network round trip
// of 20–40 ms. From loop() that time is spent blocked (other tasks run); called from a web
// handler it holds the async_tcp task, and the shim's task watchdog counts it as such.
#pragma once
#include "Arduino.h"

class DatabaseLogger {
 public:
  // Returns the write's duration in µs.
  int64_t write(const char* type, const char* data);
};
