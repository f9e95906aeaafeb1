// Host shim for the Arduino core on ESP32: just what the panel-link firmware uses.
// Serial prints to stdout (the console the harness reads), one line at a time under a lock,
// as the ESP32's UART driver does; Serial2 is the UART from the Pi, fed from stdin.
#pragma once
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

typedef std::string String;

// FreeRTOS critical sections (a spinlock across both cores on the chip).
typedef std::mutex portMUX_TYPE;
#define portMUX_INITIALIZER_UNLOCKED {}
#define portENTER_CRITICAL(mux) (mux)->lock()
#define portEXIT_CRITICAL(mux) (mux)->unlock()

int64_t esp_timer_get_time();  // µs since boot
unsigned long millis();
void delay(unsigned long ms);

class HardwareSerial {
 public:
  explicit HardwareSerial(int uart) : uart_(uart) {}
  void begin(unsigned long baud);
  void println(const char* s);
  void println(const String& s) { println(s.c_str()); }
  void printf(const char* fmt, ...) __attribute__((format(printf, 2, 3)));
  // Serial2 (RX from the Pi): bytes waiting, and one line without its end.
  int available();
  String readStringUntil(char end);

 private:
  int uart_;
};

extern HardwareSerial Serial;
extern HardwareSerial Serial2;

// Which seeded bug this run has (`--bug NAME` or HIL_ESP_BUG); "" for the healthy firmware.
// On a board this would be a build flag; here one binary serves every row of the matrix.
const char* hostBug();

// Why the chip (re)started.
enum esp_reset_reason_t { ESP_RST_POWERON = 1, ESP_RST_TASK_WDT = 6 };
esp_reset_reason_t esp_reset_reason();
