// The AT command interpreters (emulators/esp_wifi/esp_at_engine, realtek_at_engine) replaying the
// transcripts of ../shared/reference/esp_at.md and realtek_at.md byte for byte, with a scripted network
// and a manual clock; and the UART pacer on a manual clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "esp_wifi/at_engine.hpp"
#include "common/chip_profile.hpp"
#include "esp_wifi/realtek_at_engine.hpp"
#include "esp_wifi/uart_pacer.hpp"
#include "mocks/mock_clock.hpp"

using namespace iotw::emu;

namespace {

/// An engine on a manual clock; the test plays the network.
struct Module {
  explicit Module(const std::string& model) {
    AtModuleConfig c;
    c.model = model;
    c.ap.ssid = "iotw-lab";
    c.ap.password = "0123456789";
    e = make_at_engine(c);
    e->power_on(now);
    advance(c.boot_ms);
  }
  /// Advances the clock, runs the timers, returns the output.
  std::string advance(uint64_t ms) {
    now += ms;
    e->tick(now);
    return e->take_output();
  }
  std::string send(const std::string& bytes) {
    e->feed(bytes, now);
    e->tick(now);
    return e->take_output();
  }
  std::vector<AtAction> actions() { return e->take_actions(); }
  std::unique_ptr<AtEngine> e;
  uint64_t now = 0;
};

const std::string kPrompt = "\r\n\n# ";

}  // namespace

// ---------------------------------------------------------------- ESP-AT

TEST(EspAt, PowerOnPrintsTheRomLogThenReady) {
  AtModuleConfig c;
  c.model = "esp32";
  auto e = make_at_engine(c);
  e->power_on(0);
  e->tick(c.boot_ms - 1);
  EXPECT_EQ(e->take_output(), "");
  e->feed("AT\r\n", c.boot_ms - 1);  // not listening while booting
  e->tick(c.boot_ms);
  std::string rom;
  for (const auto& l : chip_profile("esp32").boot_banner) rom += l + "\r\n";
  EXPECT_EQ(e->take_output(), rom + "\r\nready\r\n");  // s_ready_str [INIT]
  EXPECT_EQ(e->default_baud(), 115200);
}

TEST(EspAt, EchoOnByDefaultAndAte0) {
  Module m("esp8266");
  EXPECT_EQ(m.send("AT\r\n"), "AT\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("ATE0\r\n"), "ATE0\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT\r\n"), "\r\nOK\r\n");
  EXPECT_EQ(m.send("ATE1\r\n"), "\r\nOK\r\n");
  EXPECT_EQ(m.send("A"), "A");
  EXPECT_EQ(m.send("T\r\n"), "T\r\n\r\nOK\r\n");
}

TEST(EspAt, GmrIsTheDocExample) {
  Module m("esp32");
  EXPECT_EQ(m.send("AT+GMR\r\n"),
            "AT+GMR\r\n"
            "AT version:2.2.0.0-dev(ca41ec4 - ESP32 - Sep 16 2020 11:28:17)\r\n"
            "SDK version:v4.0.1-193-ge7ac221b4\r\n"
            "compile time(98b95fc):Oct 29 2020 11:23:25\r\n"
            "Bin version:2.1.0(MINI-1)\r\n"
            "\r\n"
            "OK\r\n");
}

TEST(EspAt, UnknownCommandIsErrorAndSyslogAddsTheCode) {
  Module m("esp32");
  m.send("ATE0\r\n");
  EXPECT_EQ(m.send("AT+FAKE\r\n"), "\r\nERROR\r\n");
  EXPECT_EQ(m.send("AT+SYSLOG=1\r\n"), "\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+FAKE\r\n"), "ERR CODE:0x01090000\r\n\r\nERROR\r\n");  // [BASIC] transcript
  EXPECT_EQ(m.send("XYZ\r\n"), "ERR CODE:0x01030000\r\n\r\nERROR\r\n");      // NO_AT
  EXPECT_EQ(m.send("AT\n"), "ERR CODE:0x01020000\r\n\r\nERROR\r\n");         // NO_TERMINATOR
}

TEST(EspAt, CwmodeQueryAndSet) {
  Module m("esp8266");
  m.send("ATE0\r\n");
  EXPECT_EQ(m.send("AT+CWMODE?\r\n"), "+CWMODE:1\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CWMODE=3\r\n"), "\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CWMODE?\r\n"), "+CWMODE:3\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CWMODE=4\r\n"), "\r\nERROR\r\n");
  EXPECT_EQ(m.send("AT+CIFSR\r\n"),
            "+CIFSR:APIP,\"192.168.4.1\"\r\n+CIFSR:APMAC,\"5c:cf:7f:12:34:57\"\r\n"
            "+CIFSR:STAIP,\"0.0.0.0\"\r\n+CIFSR:STAMAC,\"5c:cf:7f:12:34:56\"\r\n\r\nOK\r\n");
}

TEST(EspAt, JoinSucceedsAfterTheJoinTimeAndIsBusyMeanwhile) {
  Module m("esp32");
  EXPECT_EQ(m.send("AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n"), "AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n");
  EXPECT_EQ(m.send("AT\r\n"), "\r\nbusy p...\r\n");
  EXPECT_EQ(m.advance(999), "");
  EXPECT_EQ(m.advance(1), "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n");
  m.send("ATE0\r\n");
  EXPECT_EQ(m.send("AT+CWJAP?\r\n"), "+CWJAP:\"iotw-lab\",\"b4:e6:2d:10:20:30\",6,-45,0,1,3,0,1\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CIFSR\r\n"), "+CIFSR:STAIP,\"192.168.1.100\"\r\n+CIFSR:STAMAC,\"24:0a:c4:12:34:56\"\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CWQAP\r\n"), "\r\nOK\r\nWIFI DISCONNECT\r\n");
  EXPECT_EQ(m.send("AT+CWJAP?\r\n"), "No AP\r\n\r\nOK\r\n");
}

TEST(EspAt, JoinErrorCodes) {
  Module m("esp8266");
  m.send("ATE0\r\n");
  EXPECT_EQ(m.send("AT+CWJAP=\"iotw-lab\",\"wrong-pass\"\r\n"), "");
  EXPECT_EQ(m.advance(1000), "+CWJAP:2\r\n\r\nERROR\r\n");  // 2 wrong password
  m.send("AT+CWJAP=\"other-ap\",\"0123456789\"\r\n");
  EXPECT_EQ(m.advance(1000), "+CWJAP:3\r\n\r\nERROR\r\n");  // 3 cannot find the target AP
  m.send("AT+CWMODE=2\r\n");
  EXPECT_EQ(m.send("AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n"), "\r\nERROR\r\n");
}

TEST(EspAt, TcpSingleLinkSendReceiveClose) {
  Module m("esp8266");
  m.send("ATE0\r\n");
  EXPECT_EQ(m.send("AT+CIPSTART=\"TCP\",\"127.0.0.1\",8080\r\n"), "\r\nERROR\r\n");  // no IP yet
  m.send("AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n");
  m.advance(1000);
  EXPECT_EQ(m.send("AT+CIPSTART=\"TCP\",\"127.0.0.1\",8080\r\n"), "");
  auto a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, AtAction::Type::Open);
  EXPECT_TRUE(a[0].tcp);
  EXPECT_EQ(a[0].host, "127.0.0.1");
  EXPECT_EQ(a[0].port, 8080);
  EXPECT_EQ(m.send("AT\r\n"), "\r\nbusy p...\r\n");
  m.e->on_open_result(0, true, m.now);
  EXPECT_EQ(m.e->take_output(), "CONNECT\r\n\r\nOK\r\n");  // [EX]
  EXPECT_EQ(m.send("AT+CIPSTART=\"TCP\",\"127.0.0.1\",8080\r\n"), "ALREADY CONNECTED\r\r\nERROR\r\n");  // [LIB8266]
  EXPECT_EQ(m.send("AT+CIPSEND=4\r\n"), "\r\nOK\r\n\r\n>");
  EXPECT_EQ(m.send("te"), "");
  EXPECT_EQ(m.send("st"), "\r\nRecv 4 bytes\r\n");
  a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, AtAction::Type::Send);
  EXPECT_EQ(a[0].data, "test");
  EXPECT_EQ(m.send("AT\r\n"), "\r\nbusy p...\r\n");
  m.e->on_send_result(0, true, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\nSEND OK\r\n");
  m.e->on_receive(0, "test", "127.0.0.1", 8080, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\n+IPD,4:test");  // [EX] single connection
  m.send("AT+CIPDINFO=1\r\n");
  m.e->on_receive(0, std::string("a\0b", 3), "127.0.0.1", 8080, m.now);
  EXPECT_EQ(m.e->take_output(), std::string("\r\n+IPD,3,\"127.0.0.1\",8080:a\0b", 29));
  m.e->on_remote_closed(0, m.now);
  EXPECT_EQ(m.e->take_output(), "CLOSED\r\n");
  EXPECT_EQ(m.send("AT+CIPSEND=4\r\n"), "\r\nERROR\r\n");
  EXPECT_EQ(m.send("AT+CIPSTART=\"TCP\",\"192.168.3.102\",8080\r\n"), "\r\nERROR\r\n");  // loopback only
  EXPECT_TRUE(m.actions().empty());
}

TEST(EspAt, SendFailAndAlreadyConnectedOnEsp32) {
  Module m("esp32");
  m.send("ATE0\r\n");
  m.send("AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n");
  m.advance(1000);
  m.send("AT+CIPSTART=\"UDP\",\"127.0.0.1\",9000\r\n");
  m.e->on_open_result(0, true, m.now);
  EXPECT_EQ(m.e->take_output(), "CONNECT\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CIPSTART=\"UDP\",\"127.0.0.1\",9000\r\n"), "ALREADY CONNECTED\r\nERROR\r\n");
  m.send("AT+CIPSEND=2\r\nhi");
  m.e->on_send_result(0, false, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\nSEND FAIL\r\n");
  m.e->on_open_result(0, false, m.now);  // stray: ignored
  EXPECT_EQ(m.e->take_output(), "");
}

TEST(EspAt, MultiLinkUdpAsInTheExamples) {
  Module m("esp32");
  m.send("ATE0\r\n");
  m.send("AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n");
  m.advance(1000);
  EXPECT_EQ(m.send("AT+CIPMUX=1\r\n"), "\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CIPMUX?\r\n"), "+CIPMUX:1\r\n\r\nOK\r\n");
  m.send("AT+CIPSTART=4,\"UDP\",\"127.0.0.1\",8080,1112,0\r\n");
  auto a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_FALSE(a[0].tcp);
  EXPECT_EQ(a[0].local_port, 1112);
  EXPECT_EQ(a[0].link, 4);
  m.e->on_open_result(4, true, m.now);
  EXPECT_EQ(m.e->take_output(), "4,CONNECT\r\n\r\nOK\r\n");
  EXPECT_EQ(m.send("AT+CIPMUX=0\r\n"), "\r\nERROR\r\n");  // links open
  m.e->on_receive(4, "test", "127.0.0.1", 8080, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\n+IPD,4,4:test");  // [EX] "UDP link 4"
  EXPECT_EQ(m.send("AT+CIPSEND=4,5,\"127.0.0.1\",9999\r\n"), "\r\nOK\r\n\r\n>");
  m.send("hello");
  a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].port, 9999);
  m.e->on_send_result(4, true, m.now);
  m.e->take_output();
  EXPECT_EQ(m.send("AT+CIPCLOSE=4\r\n"), "4,CLOSED\r\n\r\nOK\r\n");  // [EX] "0,CLOSED / OK" form
  EXPECT_EQ(m.send("AT+CIPCLOSE=4\r\n"), "\r\nERROR\r\n");
}

TEST(EspAt, AccessPointLossAndReturnRaiseTheEvents) {
  Module m("esp8266");
  m.send("ATE0\r\n");
  m.send("AT+CWJAP=\"iotw-lab\",\"0123456789\"\r\n");
  m.advance(1000);
  m.send("AT+CIPSTART=\"TCP\",\"127.0.0.1\",8080\r\n");
  m.e->on_open_result(0, true, m.now);
  m.e->take_output();
  m.actions();
  AccessPoint ap;
  ap.ssid = "iotw-lab";
  ap.password = "0123456789";
  ap.up = false;
  m.e->set_access_point(ap, m.now);
  EXPECT_EQ(m.e->take_output(), "WIFI DISCONNECT\r\nCLOSED\r\n");
  auto a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, AtAction::Type::Close);
  ap.up = true;
  m.e->set_access_point(ap, m.now);
  EXPECT_EQ(m.advance(1000), "WIFI CONNECTED\r\nWIFI GOT IP\r\n");
  ap.rssi = -70;  // weaker but in range: nothing happens
  m.e->set_access_point(ap, m.now);
  EXPECT_EQ(m.advance(1000), "");
  // ... except that the query reports it (the harness's ap_rssi fault, docs/faults.md)
  EXPECT_EQ(m.send("AT+CWJAP?\r\n"), "+CWJAP:\"iotw-lab\",\"b4:e6:2d:10:20:30\",6,-70,0,1,3,0,1\r\n\r\nOK\r\n");
  ap.rssi = -100;  // out of range: the station drops off until the AP is in range again
  m.e->set_access_point(ap, m.now);
  EXPECT_EQ(m.e->take_output(), "WIFI DISCONNECT\r\n");
  ap.rssi = -45;
  m.e->set_access_point(ap, m.now);
  EXPECT_EQ(m.advance(1000), "WIFI CONNECTED\r\nWIFI GOT IP\r\n");
}

TEST(EspAt, ResetPrintsOkThenTheSoftwareResetBanner) {
  Module m("esp8266");
  EXPECT_EQ(m.send("AT+RST\r\n"), "AT+RST\r\n\r\nOK\r\n");
  const std::string out = m.advance(300);
  EXPECT_EQ(out.rfind(" ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n", 0), 0u) << out;
  EXPECT_EQ(out.substr(out.size() - 9), "\r\nready\r\n");
  EXPECT_EQ(m.send("AT\r\n"), "AT\r\n\r\nOK\r\n");  // echo is back on
}

// ---------------------------------------------------------------- Realtek AT v2

TEST(RealtekAt, BootBannerAndPrompt) {
  AtModuleConfig c;
  c.model = "rtl8710";
  auto e = make_at_engine(c);
  e->power_on(0);
  e->tick(c.boot_ms);
  EXPECT_EQ(e->take_output(), "\r\nAT COMMAND READY\r\n\n# ");
  EXPECT_EQ(e->default_baud(), 38400);
}

TEST(RealtekAt, EchoEnterAndLineRules) {
  Module m("rtl8195");
  EXPECT_EQ(m.send("AT\r"), "AT\r\n[AT] OK" + kPrompt);  // CR not echoed
  EXPECT_EQ(m.send("\n"), "");                          // LF after CR ignored at line start
  EXPECT_EQ(m.send("\r"), kPrompt);                     // empty line: the prompt
  EXPECT_EQ(m.send("x"), "\r\nERROR:command should start with 'A'" + kPrompt);
  EXPECT_EQ(m.send("ATXYZ\r"), "ATXYZ\r\nunknown command 'ATXYZ'" + kPrompt);
  EXPECT_EQ(m.send("ATQQ=1\r"), "ATQQ=1\r\nunknown command 'ATQQ=1'" + kPrompt);
  EXPECT_EQ(m.send("ATSX\bE=0\r"), "ATSX\b \bE=0\r\n[ATSE] OK" + kPrompt);
  EXPECT_EQ(m.send("x"), "");  // echo off: skipped silently
  EXPECT_EQ(m.send("AT\r\n"), "\r\n[AT] OK" + kPrompt);
  EXPECT_EQ(m.send("ATSE=2\r"), "\r\n[ATSE] ERROR:3" + kPrompt);
  EXPECT_EQ(m.send("ATSV\r"), "\r\n[ATSV] OK:v2.2.1,v3.5a(Jul  4 2018 10:00:00)" + kPrompt);
}

TEST(RealtekAt, LineBufferLimit) {
  Module m("rtl8710");
  std::string l = "A" + std::string(RealtekAtEngine::kBufLen - 2, 'B');
  EXPECT_EQ(m.send(l), l);
  EXPECT_EQ(m.send("C"), "\r\nERROR:exceed size limit" + kPrompt);
}

TEST(RealtekAt, JoinWithAtpnAndQueuedInput) {
  Module m("rtl8710");
  m.send("ATSE=0\r");
  EXPECT_EQ(m.send("ATPW=1\r"), "\r\n[ATPW] OK" + kPrompt);
  EXPECT_EQ(m.send("ATPN=iotw-lab,wrongpass\r"), "");
  EXPECT_EQ(m.send("AT\r"), "");  // the log service is busy: held in the UART buffer
  EXPECT_EQ(m.advance(1000), "\r\n[ATPN] ERROR:4" + kPrompt + "\r\n[AT] OK" + kPrompt);
  m.send("ATPN=nobody-here,0123456789\r");
  EXPECT_EQ(m.advance(1000), "\r\n[ATPN] ERROR:4" + kPrompt);
  EXPECT_EQ(m.send("ATPN=iotw-lab,short\r"), "");  // 5 chars: a WEP key length, tried (and refused)
  m.advance(1000);
  EXPECT_EQ(m.send("ATPN=iotw-lab,sixsix\r"), "\r\n[ATPN] ERROR:2" + kPrompt);
  EXPECT_EQ(m.send("ATPN\r"), "\r\n[ATPN] ERROR:1" + kPrompt);
  m.send("ATPN=iotw-lab,0123456789\r");
  EXPECT_EQ(m.advance(1000), "\r\n[ATPN] OK" + kPrompt);
  EXPECT_EQ(m.send("ATW?\r"), "\r\nSTA,iotw-lab,6,AES,0123456789,00:e0:4c:87:10:01,192.168.1.80,192.168.1.1\r\n[ATW?] OK" + kPrompt);
  EXPECT_EQ(m.send("ATWS\r"), "\r\nAP : 1,iotw-lab,6,AES,-45,b4:e6:2d:10:20:30\r\n[ATWS] OK" + kPrompt);
  m.send("ATPW=2\r");
  EXPECT_EQ(m.send("ATPN=iotw-lab,0123456789\r"), "\r\n[ATPN] ERROR:5" + kPrompt);
}

TEST(RealtekAt, UdpClientSendReceiveAsInTheDocExamples) {
  Module m("rtl8710");
  m.send("ATSE=0\r");
  m.send("ATPN=iotw-lab,0123456789\r");
  m.advance(1000);
  // fATPC prints nothing, the prompt follows at once; the client task connects 1 s later.
  EXPECT_EQ(m.send("ATPC=1,127.0.0.1,5001\r"), kPrompt);
  EXPECT_TRUE(m.actions().empty());
  EXPECT_EQ(m.advance(1000), "");
  auto a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, AtAction::Type::Open);
  EXPECT_FALSE(a[0].tcp);
  EXPECT_EQ(a[0].link, 1);
  EXPECT_EQ(a[0].port, 5001);
  m.e->on_open_result(1, true, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\n[ATPC] OK\r\n[ATPC] con_id=1" + kPrompt);
  // data after ':' is counted, CR and LF included
  EXPECT_EQ(m.send("ATPT=16,1:Hello\r\nRealtek!"), "");
  EXPECT_EQ(m.send("!"), "");
  a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].data, "Hello\r\nRealtek!!");
  m.e->on_send_result(1, true, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\n[ATPT] OK,1" + kPrompt);
  EXPECT_EQ(m.send("ATPT=4,7:abcd"), "\r\n[ATPT] ERROR:3,7" + kPrompt);  // source form: error_no, con_id
  EXPECT_EQ(m.send("ATPR=1,1500\r"), "\r\n[ATPR] OK,0,1:" + kPrompt);
  m.e->on_receive(1, "12345678", "127.0.0.1", 5001, m.now);
  EXPECT_EQ(m.e->take_output(), "");
  EXPECT_EQ(m.send("ATPR=1,1500\r"), "\r\n[ATPR] OK,8,1:12345678" + kPrompt);  // [AN0075] example form
  EXPECT_EQ(m.send("ATPR=1,0\r"), "\r\n[ATPR] ERROR:2,1" + kPrompt);
  EXPECT_EQ(m.send("ATPI\r"), "\r\ncon_id:1,client,udp,address:127.0.0.1,port:5001,socket:0\r\n[ATPI] OK" + kPrompt);
  EXPECT_EQ(m.send("ATPK=1\r"), "\r\n[ATPK] OK" + kPrompt);
  m.e->on_receive(1, "hi", "127.0.0.1", 5001, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\n[ATPR] OK,2,1:hi" + kPrompt);  // atcmd_lwip_receive_task
  EXPECT_EQ(m.send("ATPR=1,10\r"), "\r\n[ATPR] ERROR:10,-1" + kPrompt);
  EXPECT_EQ(m.send("ATPD=1\r"), "\r\n[ATPD] OK" + kPrompt);
  a = m.actions();
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, AtAction::Type::Close);
  EXPECT_EQ(m.send("ATPD=1\r"), "\r\n[ATPD] ERROR:3" + kPrompt);
}

TEST(RealtekAt, TcpClientErrorsAndRemoteClose) {
  Module m("rtl8195");
  m.send("ATSE=0\r");
  EXPECT_EQ(m.send("ATPC=0,127.0.0.1\r"), "\r\n[ATPC] ERROR:1" + kPrompt);
  EXPECT_EQ(m.send("ATPC=0,10.1.2.3,80\r"), "\r\n[ATPC] ERROR:2" + kPrompt);  // loopback only
  EXPECT_EQ(m.send("ATPC=0,127.0.0.1,70000\r"), "\r\n[ATPC] ERROR:3" + kPrompt);
  m.send("ATPC=0,127.0.0.1,80\r");
  EXPECT_EQ(m.advance(1000), "\r\n[ATPC] ERROR:9" + kPrompt);  // not joined: connect fails
  m.send("ATPN=iotw-lab,0123456789\r");
  m.advance(1000);
  m.send("ATPC=0,127.0.0.1,80\r");
  m.advance(1000);
  m.e->on_open_result(1, false, m.now);  // refused
  EXPECT_EQ(m.e->take_output(), "\r\n[ATPC] ERROR:9" + kPrompt);
  m.send("ATPC=0,localhost,81\r");
  m.advance(1000);
  m.actions();
  m.e->on_open_result(1, true, m.now);
  EXPECT_EQ(m.e->take_output(), "\r\n[ATPC] OK\r\n[ATPC] con_id=1" + kPrompt);
  m.e->on_receive(1, "abc", "127.0.0.1", 81, m.now);
  m.e->on_remote_closed(1, m.now);
  EXPECT_EQ(m.send("ATPR=1,100\r"), "\r\n[ATPR] OK,3,1:abc" + kPrompt);
  EXPECT_EQ(m.send("ATPR=1,100\r"), "\r\n[ATPR] ERROR:7,1" + kPrompt);  // "Connection is closed!"
  EXPECT_EQ(m.send("ATPR=1,100\r"), "\r\n[ATPR] ERROR:3,1" + kPrompt);
}

TEST(RealtekAt, ResetReprintsTheBanner) {
  Module m("rtl8710");
  EXPECT_EQ(m.send("ATSR\r"), "ATSR\r\n[ATSR] OK");
  EXPECT_EQ(m.advance(300), "\r\nAT COMMAND READY" + kPrompt);
}

// ---------------------------------------------------------------- UART pacing

TEST(UartPacer, SpacesBytesOneByteTimeApart) {
  iotw::ManualClock clock;
  UartPacer pacer(clock, 9600, true);
  EXPECT_EQ(pacer.byte_ns(), 1'041'666u);  // 10 bits at 9600 bit/s
  std::vector<uint64_t> at;
  std::string got;
  pacer.write("hello", [&](std::string_view b) {
    at.push_back(clock.now_ns());
    got.append(b);
    return true;
  });
  EXPECT_EQ(got, "hello");
  ASSERT_EQ(at.size(), 5u);
  for (size_t i = 0; i < at.size(); i++) EXPECT_EQ(at[i], i * 1'041'666u);
  // the line is busy until the last byte's end: the next write waits for it
  pacer.write("!", [&](std::string_view) {
    at.push_back(clock.now_ns());
    return true;
  });
  EXPECT_EQ(at.back(), 5 * 1'041'666u);
  // after an idle gap the next byte goes at once
  clock.advance_ns(50'000'000);
  const uint64_t t = clock.now_ns();
  pacer.write("?", [&](std::string_view) {
    at.push_back(clock.now_ns());
    return true;
  });
  EXPECT_EQ(at.back(), t);
  // a sink that gives up stops the rest
  int n = 0;
  pacer.write("abc", [&](std::string_view) { return ++n < 2; });
  EXPECT_EQ(n, 2);
}

TEST(UartPacer, SleepsUntilEachBytesSlotBeforeHandingItOver) {
  ::testing::StrictMock<iotw::mocks::MockClock> clock;
  ::testing::MockFunction<bool(std::string_view)> sink;
  UartPacer pacer(clock, 115200, true);
  const uint64_t t0 = 7'000'000, byte = pacer.byte_ns();  // 86'805 ns at 115200 bit/s
  {
    ::testing::InSequence order;  // the clock is read once; each byte waits for its slot, then goes out
    EXPECT_CALL(clock, now_ns()).WillOnce(::testing::Return(t0));
    EXPECT_CALL(clock, sleep_until_ns(t0));
    EXPECT_CALL(sink, Call(std::string_view("a"))).WillOnce(::testing::Return(true));
    EXPECT_CALL(clock, sleep_until_ns(t0 + byte));
    EXPECT_CALL(sink, Call(std::string_view("b"))).WillOnce(::testing::Return(true));
    EXPECT_CALL(clock, sleep_until_ns(t0 + 2 * byte));
    EXPECT_CALL(sink, Call(std::string_view("c"))).WillOnce(::testing::Return(false));  // gives up: no "d"
  }
  pacer.write("abcd", sink.AsStdFunction());
}

TEST(UartPacer, UnpacedWritesAllAtOnce) {
  ::testing::StrictMock<iotw::mocks::MockClock> clock;  // any read or sleep fails the test
  UartPacer pacer(clock, 115200, false);
  int calls = 0;
  pacer.write("hello", [&](std::string_view b) {
    calls++;
    EXPECT_EQ(b, "hello");
    return true;
  });
  EXPECT_EQ(calls, 1);
}
