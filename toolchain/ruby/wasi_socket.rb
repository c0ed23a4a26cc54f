# frozen_string_literal: true
# socket for CRuby on wasm32-wasi, installed where the socket extension lives on other platforms.
#
# WASI preview 1 has no call that opens, connects, binds or resolves a socket, so CRuby does not
# build ext/socket for it, and every library that requires "socket" at load time (net/http,
# net/smtp, net/imap, net/ftp, net/pop, RubyGems' `gem list`, typeprof, ...) raised LoadError,
# even for work that needs no network. This defines socket's classes and constants so that those
# libraries load, and makes every call that would reach the network raise Errno::ENOSYS, a
# SystemCallError that names the call: a program that rescues a failed connection (SocketError
# or SystemCallError) sees one, and one that never connects runs as it does natively.
class SocketError < StandardError; end

class BasicSocket < IO
  # The one way every socket class fails: nothing in WASI preview 1 can create a socket.
  def self.unavailable(call)
    raise Errno::ENOSYS, "#{call}: WASI preview 1 has no sockets, so this wasm cannot reach the network"
  end

  def self.new(*) = unavailable("#{name}.new")
  def self.open(*) = unavailable("#{name}.open")
  def self.for_fd(*) = unavailable("#{name}.for_fd")
  def self.do_not_reverse_lookup = true
  def self.do_not_reverse_lookup=(_value); end
end

class IPSocket < BasicSocket
  def self.getaddress(host) = unavailable("IPSocket.getaddress(#{host.inspect})")
end

class TCPSocket < IPSocket
  def self.gethostbyname(host) = unavailable("TCPSocket.gethostbyname(#{host.inspect})")
end

class TCPServer < TCPSocket; end
class UDPSocket < IPSocket; end
class UNIXSocket < BasicSocket
  def self.pair(*) = unavailable("UNIXSocket.pair")
  def self.socketpair(*) = unavailable("UNIXSocket.socketpair")
end
class UNIXServer < UNIXSocket; end

class Socket < BasicSocket
  # The values are wasi-libc's (its <__header_sys_socket.h> and <netinet/in.h>).
  module Constants
    AF_UNSPEC = PF_UNSPEC = 0
    AF_INET = PF_INET = 1
    AF_INET6 = PF_INET6 = 2
    AF_UNIX = PF_UNIX = AF_LOCAL = PF_LOCAL = 3
    SOCK_DGRAM = 5
    SOCK_STREAM = 6
    SOL_SOCKET = 0x7fffffff
    SO_REUSEADDR = 2
    SO_KEEPALIVE = 9
    IPPROTO_IP = 0
    IPPROTO_TCP = 6
    IPPROTO_UDP = 17
    IPPROTO_IPV6 = 41
    TCP_NODELAY = 1
    SHUT_RD = 0
    SHUT_WR = 1
    SHUT_RDWR = 2
    MSG_OOB = 1
    MSG_PEEK = 2
    AI_PASSIVE = 1
    NI_NUMERICHOST = 1
    INADDR_ANY = 0
  end
  include Constants

  def self.tcp(host, port, *) = unavailable("Socket.tcp(#{host.inspect}, #{port.inspect})")
  def self.tcp_server_sockets(*) = unavailable("Socket.tcp_server_sockets")
  def self.unix(path, *) = unavailable("Socket.unix(#{path.inspect})")
  def self.pair(*) = unavailable("Socket.pair")
  def self.socketpair(*) = unavailable("Socket.socketpair")
  def self.getaddrinfo(host, *) = unavailable("Socket.getaddrinfo(#{host.inspect})")
  def self.gethostbyname(host) = unavailable("Socket.gethostbyname(#{host.inspect})")
  def self.ip_address_list = unavailable("Socket.ip_address_list")
  def self.accept_loop(*) = unavailable("Socket.accept_loop")
  def self.gethostname = unavailable("Socket.gethostname")
end

class Addrinfo
  def self.getaddrinfo(host, *) = BasicSocket.unavailable("Addrinfo.getaddrinfo(#{host.inspect})")
  def self.tcp(host, port) = BasicSocket.unavailable("Addrinfo.tcp(#{host.inspect}, #{port.inspect})")
  def self.udp(host, port) = BasicSocket.unavailable("Addrinfo.udp(#{host.inspect}, #{port.inspect})")
  def self.unix(path, *) = BasicSocket.unavailable("Addrinfo.unix(#{path.inspect})")
  def self.ip(host) = BasicSocket.unavailable("Addrinfo.ip(#{host.inspect})")
end
