#include "tcp_relay.hpp"

#include <array>
#include <future>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace iotw::harness {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct TcpRelay::Shared {
  mutable std::mutex mutex;  // counts and cut are read from other threads
  TcpRelayCounts counts;
  bool cut = false;
  std::vector<std::weak_ptr<Pair>> pairs;  // io thread only
};

/// One relayed connection: the client's socket and its own upstream socket. Any error or EOF closes both.
class TcpRelay::Pair : public std::enable_shared_from_this<Pair> {
 public:
  Pair(tcp::socket client, std::shared_ptr<Shared> shared)
      : client_(std::move(client)), upstream_(client_.get_executor()), shared_(std::move(shared)) {}

  void start(const tcp::endpoint& to) {
    upstream_.async_connect(to, [self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec) return self->close();
      self->pump(self->client_, self->upstream_, self->up_, true);
      self->pump(self->upstream_, self->client_, self->down_, false);
    });
  }

  void close() {
    boost::system::error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
  }

 private:
  void pump(tcp::socket& from, tcp::socket& to, std::array<char, 16384>& buf, bool up) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from, &to, &buf, up](
                                                const boost::system::error_code& ec, std::size_t n) {
      if (ec) return self->close();
      {
        std::lock_guard lock(self->shared_->mutex);
        (up ? self->shared_->counts.bytes_up : self->shared_->counts.bytes_down) += n;
      }
      asio::async_write(to, asio::buffer(buf, n), [self, &from, &to, &buf, up](const boost::system::error_code& wec,
                                                                               std::size_t) {
        if (wec) return self->close();
        self->pump(from, to, buf, up);
      });
    });
  }

  tcp::socket client_, upstream_;
  std::array<char, 16384> up_{}, down_{};
  std::shared_ptr<Shared> shared_;
};

namespace {
tcp::endpoint parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("upstream '" + text + "' is not IP:PORT");
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address_v4(text.substr(0, colon), ec);
  int port = 0;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = 0;
  } catch (const std::exception&) {
    port = 0;
  }
  if (ec || port <= 0 || port > 65535) throw std::invalid_argument("upstream '" + text + "' is not IPv4:PORT");
  return {ip, static_cast<std::uint16_t>(port)};
}
}  // namespace

TcpRelay::TcpRelay(asio::io_context& io, const std::string& upstream)
    : io_(io), upstream_text_(upstream), upstream_(parse_endpoint(upstream)),
      acceptor_(io, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()), shared_(std::make_shared<Shared>()) {
  on_io([this] { accept(); });
}

TcpRelay::~TcpRelay() {
  if (io_.stopped()) return;  // the io thread is gone: nothing runs our handlers any more
  on_io([this] {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& w : shared_->pairs)
      if (auto p = w.lock()) p->close();
  });
}

template <class F>
void TcpRelay::on_io(F&& f) {
  if (io_.get_executor().running_in_this_thread()) return f();
  std::promise<void> done;
  asio::post(io_, [&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

void TcpRelay::accept() {
  acceptor_.async_accept([this, shared = shared_](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      bool refuse;
      {
        std::lock_guard lock(shared->mutex);
        refuse = shared->cut;
        ++(refuse ? shared->counts.refused : shared->counts.accepted);
      }
      if (refuse) {
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        std::erase_if(shared->pairs, [](const std::weak_ptr<Pair>& w) { return w.expired(); });
        auto pair = std::make_shared<Pair>(std::move(socket), shared);
        shared->pairs.push_back(pair);
        pair->start(upstream_);
      }
    }
    accept();
  });
}

void TcpRelay::cut() {
  on_io([this] {
    std::uint64_t closed = 0;
    for (auto& w : shared_->pairs)
      if (auto p = w.lock()) {
        p->close();
        ++closed;
      }
    shared_->pairs.clear();
    std::lock_guard lock(shared_->mutex);
    shared_->cut = true;
    shared_->counts.cut_connections += closed;
  });
}

void TcpRelay::restore() {
  on_io([this] {
    std::lock_guard lock(shared_->mutex);
    shared_->cut = false;
  });
}

bool TcpRelay::is_cut() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->cut;
}

TcpRelayCounts TcpRelay::counts() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->counts;
}

}  // namespace iotw::harness
