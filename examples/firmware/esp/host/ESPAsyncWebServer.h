// Host shim shaped like ESPAsyncWebServer: handlers registered with on(), run on their own thread
// (AsyncTCP's async_tcp task, on the other core of an ESP32), one request at a time. The server
// is plain HTTP/1.1 on loopback; every connection is closed after its response, as
// ESPAsyncWebServer does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "Arduino.h"

enum WebRequestMethod { HTTP_GET = 1, HTTP_POST = 2 };

class AsyncWebHeader {
 public:
  AsyncWebHeader(String n, String v) : name_(std::move(n)), value_(std::move(v)) {}
  const String& name() const { return name_; }
  const String& value() const { return value_; }

 private:
  String name_, value_;
};

class AsyncWebServerRequest {
 public:
  WebRequestMethod method() const { return method_; }
  const String& url() const { return url_; }
  bool hasHeader(const char* name) const;
  const AsyncWebHeader* getHeader(const char* name) const;
  const String& contentType() const;
  void send(int code, const char* contentType, const String& body);

  // shim internals
  int fd = -1;
  WebRequestMethod method_ = HTTP_GET;
  String methodText, url_, body;
  std::vector<AsyncWebHeader> headers;
  bool sent = false;
  std::map<String, String> extraHeaders;
};

typedef std::function<void(AsyncWebServerRequest*)> ArRequestHandlerFunction;
typedef std::function<void(AsyncWebServerRequest*, uint8_t* data, size_t len, size_t index, size_t total)> ArBodyHandlerFunction;

class AsyncWebServer {
 public:
  explicit AsyncWebServer(uint16_t port);
  void on(const char* uri, WebRequestMethod method, ArRequestHandlerFunction onRequest,
          ArRequestHandlerFunction onUpload = nullptr, ArBodyHandlerFunction onBody = nullptr);
  void onNotFound(ArRequestHandlerFunction fn) { notFound_ = std::move(fn); }
  // Binds and starts the network and async_tcp threads; returns the port (false on failure).
  bool begin();
  uint16_t port() const { return port_; }

  struct Route {
    String uri;
    WebRequestMethod method;
    ArRequestHandlerFunction onRequest;
    ArBodyHandlerFunction onBody;
  };
  std::vector<Route> routes;
  ArRequestHandlerFunction notFound_;

 private:
  uint16_t port_;
};
