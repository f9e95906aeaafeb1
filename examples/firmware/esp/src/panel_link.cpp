// ESP32 panel-link firmware: the database-log design.
//
// Web handlers (running on the async_tcp task) must not touch the database: they validate the
// request, queue a DatabaseEvent into a circular buffer of 10 and answer at once. loop() drains
// the buffer, one database write per pass (20–40 ms each, on the network), and reads the Pi's
// state from its UART. HIL telemetry (docs/telemetry.md) follows each queue operation.
//
// Seeded bugs, chosen at run time (`--bug NAME`), each the way such a bug is really written:
//   sync-db       the handler writes to the database itself instead of queueing
//   wrap-off-by-one  queueDatabaseEvent wraps its head index at QUEUE_SIZE - 1
//   silent-drop   a full buffer makes queueDatabaseEvent return true without storing or warning
//
// NB: head/tail/count are shared between the handlers and loop() without a lock, as in the
// design this firmware follows ("count tracking prevents race conditions"). See README.md.
#include <Arduino.h>
#include <ESPAsyncWebServer.h>

#include <cstring>

#include "DatabaseLogger.h"

#define FW_VERSION "1.4"
#define QUEUE_SIZE 10
#define TEXT_MAX 200
#define HB_PERIOD_MS 250

struct DatabaseEvent {
  char type[16];
  char data[TEXT_MAX + 8];
  char reqId[65];
  int64_t queuedAt;
};

DatabaseEvent eventQueue[QUEUE_SIZE];
volatile int queueHead = 0;
volatile int queueTail = 0;
volatile int queueCount = 0;

AsyncWebServer server(80);
DatabaseLogger database;
static unsigned long processedCount = 0;
static unsigned long droppedCount = 0;
static unsigned long nextRequestId = 1;
static unsigned long lastHeartbeat = 0;
static String piState;

static bool bugSyncDb, bugWrap, bugSilentDrop;

// ---- HIL telemetry (docs/telemetry.md) ---------------------------------------------------------
// The seq is taken and the line printed in one critical section, so seq order is line order.
static uint32_t hilSeq = 0;
static portMUX_TYPE hilMux;
void hil(const char* kind, const char* fmt = "", ...) __attribute__((format(printf, 2, 3)));
void hil(const char* kind, const char* fmt, ...) {
  char tail[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tail, sizeof tail, fmt, ap);
  va_end(ap);
  portENTER_CRITICAL(&hilMux);
  uint32_t seq = ++hilSeq;
  Serial.printf("HIL %lu %lld %s %s\n", (unsigned long)seq, (long long)esp_timer_get_time(), kind, tail);
  portEXIT_CRITICAL(&hilMux);
}

// ---- the circular buffer -----------------------------------------------------------------------
bool queueDatabaseEvent(const char* type, const char* data, const char* reqId) {
  if (queueCount >= QUEUE_SIZE) {
    if (bugSilentDrop) return true;  // "the client can't do anything about it anyway"
    Serial.println("⚠ DB log buffer full, dropping event (queue full)");
    return false;
  }
  DatabaseEvent& ev = eventQueue[queueHead];
  snprintf(ev.type, sizeof ev.type, "%s", type);
  snprintf(ev.data, sizeof ev.data, "%s", data);
  snprintf(ev.reqId, sizeof ev.reqId, "%s", reqId);
  ev.queuedAt = esp_timer_get_time();
  if (bugWrap) {
    if (++queueHead >= QUEUE_SIZE - 1) queueHead = 0;
  } else {
    queueHead = (queueHead + 1) % QUEUE_SIZE;
  }
  queueCount++;
  hil("q_put", "req=%s depth=%d cap=%d", reqId, queueCount, QUEUE_SIZE);
  return true;
}

void processPendingDatabaseEvents() {
  // One write per pass, so loop() keeps reading the UART and beating between writes.
  if (queueCount == 0) return;
  DatabaseEvent ev = eventQueue[queueTail];
  queueTail = (queueTail + 1) % QUEUE_SIZE;
  queueCount--;
  int64_t got = esp_timer_get_time();
  hil("q_get", "req=%s depth=%d wait_us=%lld", ev.reqId, queueCount, (long long)(got - ev.queuedAt));
  int64_t dur = database.write(ev.type, ev.data);
  processedCount++;
  hil("done", "req=%s dur_us=%lld", ev.reqId, (long long)dur);
  Serial.printf("DB: logged message #%lu\n", processedCount);
}

// ---- request validation ------------------------------------------------------------------------
static bool validRequestId(const String& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!isalnum((unsigned char)c) && !strchr("._:-", c)) return false;
  return true;
}

static String jsonEscape(const String& s) {
  String o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

// The value of "key" in a flat JSON object: a string (decoded) or a bare token. False if absent.
static bool jsonField(const String& body, const char* key, String& out, bool& isString) {
  String k = String("\"") + key + "\"";
  size_t p = body.find(k);
  if (p == String::npos) return false;
  p = body.find(':', p + k.size());
  if (p == String::npos) return false;
  p++;
  while (p < body.size() && isspace((unsigned char)body[p])) p++;
  out.clear();
  if (p < body.size() && body[p] == '"') {
    isString = true;
    for (p++; p < body.size() && body[p] != '"'; p++) {
      if (body[p] == '\\' && p + 1 < body.size()) p++;
      out += body[p];
    }
    return true;
  }
  isString = false;
  while (p < body.size() && body[p] != ',' && body[p] != '}' && !isspace((unsigned char)body[p])) out += body[p++];
  return true;
}

static String urlDecode(const String& s) {
  String o;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '+') o += ' ';
    else if (s[i] == '%' && i + 2 < s.size()) {
      o += char(strtol(s.substr(i + 1, 2).c_str(), nullptr, 16));
      i += 2;
    } else o += s[i];
  }
  return o;
}

static bool checkText(const String& text, bool present, String& err) {
  if (!present) err = "\"text\" is missing";
  else if (text.find_first_not_of(" \t\r\n") == String::npos) err = "\"text\" must not be empty";
  else if (text.size() > TEXT_MAX) err = "\"text\" must be at most 200 characters, got " + std::to_string(text.size());
  else return true;
  return false;
}

static bool parseColor(const String& body, String& hex, String& err) {
  String v;
  bool isStr;
  if (jsonField(body, "hex", v, isStr)) {
    if (!v.empty() && v[0] == '#') v.erase(0, 1);
    if (!isStr || v.size() != 6 || v.find_first_not_of("0123456789abcdefABCDEF") != String::npos) {
      err = "\"hex\" must be \"#RRGGBB\"";
      return false;
    }
    hex = "#" + v;
    for (auto& c : hex) c = char(toupper((unsigned char)c));
    return true;
  }
  hex = "#";
  for (const char* k : {"r", "g", "b"}) {
    if (!jsonField(body, k, v, isStr) || isStr || v.empty() || v.find_first_not_of("0123456789") != String::npos || atoi(v.c_str()) > 255) {
      err = String("\"") + k + "\" must be an integer 0-255";
      return false;
    }
    char b[3];
    snprintf(b, sizeof b, "%02X", atoi(v.c_str()));
    hex += b;
  }
  return true;
}

// ---- web handlers (async_tcp task): validate, queue, answer ------------------------------------
static void sendJson(AsyncWebServerRequest* request, int code, const String& json) { request->send(code, "application/json", json); }

static void queueAndRespond(AsyncWebServerRequest* request, const String& id, const char* type, const String& data) {
  if (bugSyncDb) {
    // "Just log it right here, it's only one insert."
    int64_t dur = database.write(type, data.c_str());
    processedCount++;
    hil("done", "req=%s dur_us=%lld", id.c_str(), (long long)dur);
    Serial.printf("DB: logged message #%lu\n", processedCount);
    sendJson(request, 200, "{\"req\":\"" + id + "\"}");
    return;
  }
  if (queueDatabaseEvent(type, data.c_str(), id.c_str())) {
    sendJson(request, 202, "{\"req\":\"" + id + "\",\"depth\":" + std::to_string(queueCount) + ",\"cap\":" + std::to_string(QUEUE_SIZE) + "}");
  } else {
    droppedCount++;
    hil("q_drop", "req=%s depth=%d cap=%d", id.c_str(), queueCount, QUEUE_SIZE);
    sendJson(request, 503, "{\"error\":\"DB log buffer full\",\"req\":\"" + id + "\",\"depth\":" + std::to_string(queueCount) + ",\"cap\":" + std::to_string(QUEUE_SIZE) + "}");
  }
}

// The request id the harness sent (X-Request-Id), or our own counter. Empty: refused.
static String requestId(AsyncWebServerRequest* request) {
  if (!request->hasHeader("X-Request-Id")) return std::to_string(nextRequestId++);
  String id = request->getHeader("X-Request-Id")->value();
  if (!validRequestId(id)) {
    sendJson(request, 400, "{\"error\":\"X-Request-Id must match [A-Za-z0-9._:-]{1,64}, got \\\"" + jsonEscape(id) + "\\\"\"}");
    return String();
  }
  return id;
}

static bool isType(AsyncWebServerRequest* request, const char* want) {
  String t = request->contentType();
  t = t.substr(0, t.find(';'));
  for (auto& c : t) c = char(tolower((unsigned char)c));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t == want;
}

static void handleMessage(AsyncWebServerRequest* request, bool form) {
  String id = requestId(request);
  if (id.empty()) return;
  String text, err;
  bool present, isStr = true;
  if (form) {
    if (!isType(request, "application/x-www-form-urlencoded")) return sendJson(request, 400, "{\"error\":\"expected Content-Type application/x-www-form-urlencoded\",\"req\":\"" + id + "\"}");
    size_t p = ("&" + request->body).find("&text=");
    present = p != String::npos;
    if (present) text = urlDecode(request->body.substr(p + 5, request->body.find('&', p + 5) - (p + 5)));
  } else {
    if (!isType(request, "application/json")) return sendJson(request, 400, "{\"error\":\"expected Content-Type application/json\",\"req\":\"" + id + "\"}");
    present = jsonField(request->body, "text", text, isStr);
    if (present && !isStr) return sendJson(request, 400, "{\"error\":\"\\\"text\\\" must be a string\",\"req\":\"" + id + "\"}");
  }
  if (!checkText(text, present, err)) return sendJson(request, 400, "{\"error\":\"" + jsonEscape(err) + "\",\"req\":\"" + id + "\"}");
  queueAndRespond(request, id, "message", text);
}

static void handleColor(AsyncWebServerRequest* request) {
  String id = requestId(request);
  if (id.empty()) return;
  if (!isType(request, "application/json")) return sendJson(request, 400, "{\"error\":\"expected Content-Type application/json\",\"req\":\"" + id + "\"}");
  String hex, err;
  if (!parseColor(request->body, hex, err)) return sendJson(request, 400, "{\"error\":\"" + jsonEscape(err) + "\",\"req\":\"" + id + "\"}");
  queueAndRespond(request, id, "color", "color " + hex);
}

// ---- the Pi's state over Serial2 ---------------------------------------------------------------
static void readPiState() {
  while (Serial2.available()) {
    String line = Serial2.readStringUntil('\n');
    if (line.compare(0, 5, "STATE") != 0 || (line.size() > 5 && line[5] != ' ')) continue;
    String pairs;
    for (size_t p = 5; p < line.size();) {
      while (p < line.size() && line[p] == ' ') p++;
      size_t e = line.find(' ', p);
      String tok = line.substr(p, e == String::npos ? String::npos : e - p);
      p = e == String::npos ? line.size() : e;
      if (tok.find('=') == String::npos || tok.find('=') == 0) continue;
      pairs += (pairs.empty() ? "" : " ") + tok;
    }
    if (pairs == piState) continue;
    piState = pairs;
    Serial.printf("Pi state: %s\n", pairs.c_str());
    hil("state", "src=pi %s", pairs.c_str());
  }
}

void setup() {
  const char* bug = hostBug();
  bugSyncDb = strcmp(bug, "sync-db") == 0;
  bugWrap = strcmp(bug, "wrap-off-by-one") == 0;
  bugSilentDrop = strcmp(bug, "silent-drop") == 0;
  Serial.begin(115200);
  Serial2.begin(115200);
  Serial.println("ESP32 panel-link v" FW_VERSION);
  hil("boot", "fw=esp ver=%s reset=%s", FW_VERSION, esp_reset_reason() == ESP_RST_TASK_WDT ? "wdt" : "poweron");
  Serial.println("Connecting to WiFi...");
  Serial.println("WiFi connected, IP address: 127.0.0.1");

  server.on("/", HTTP_GET, [](AsyncWebServerRequest* request) {
    request->send(200, "text/html", "<!doctype html><html><head><title>panel-link</title></head><body><h1>ESP32 panel-link v" FW_VERSION
                                    "</h1><form method=\"post\" action=\"/message\"><input name=\"text\" maxlength=\"200\"><button>Send</button></form></body></html>");
  });
  server.on("/api/state", HTTP_GET, [](AsyncWebServerRequest* request) {
    String pi = "null";
    if (!piState.empty()) {
      pi = "{";
      for (size_t p = 0; p < piState.size();) {
        size_t e = piState.find(' ', p);
        String tok = piState.substr(p, e == String::npos ? String::npos : e - p);
        size_t eq = tok.find('=');
        pi += (pi.size() > 1 ? "," : "") + ("\"" + jsonEscape(tok.substr(0, eq)) + "\":\"" + jsonEscape(tok.substr(eq + 1)) + "\"");
        p = e == String::npos ? piState.size() : e + 1;
      }
      pi += "}";
    }
    sendJson(request, 200, "{\"pi\":" + pi + ",\"depth\":" + std::to_string(queueCount) + ",\"cap\":" + std::to_string(QUEUE_SIZE) +
                               ",\"processed\":" + std::to_string(processedCount) + ",\"dropped\":" + std::to_string(droppedCount) + "}");
  });
  server.on("/message", HTTP_POST, [](AsyncWebServerRequest* request) { handleMessage(request, true); });
  server.on("/api/message", HTTP_POST, [](AsyncWebServerRequest* request) { handleMessage(request, false); });
  server.on("/api/color", HTTP_POST, handleColor);
  server.onNotFound([](AsyncWebServerRequest* request) { sendJson(request, 404, "{\"error\":\"no route for " + jsonEscape(request->url()) + "\"}"); });
  if (!server.begin()) {
    Serial.println("E: HTTP server failed to start");
    return;
  }
  Serial.printf("HTTP server started on port %u\n", server.port());
  lastHeartbeat = millis();
}

void loop() {
  readPiState();
  processPendingDatabaseEvents();
  if (millis() - lastHeartbeat >= HB_PERIOD_MS) {
    lastHeartbeat = millis();
    hil("hb", "thread=loop depth=%d processed=%lu", queueCount, processedCount);
  }
  delay(10);
}
