# Installs a Ruby series' bundled gems into a tree laid out as the wasm's /, as CRuby's
# `make install` does (tool/rbinstall.rb), from the gems already unpacked in the source's .bundle/:
# each gem's files, its specification, and a RubyGems wrapper in bin/ for each of its executables.
# Run by the native baseruby of the same version; nothing of the host is recorded.
#
#   ruby install_bundled_gems.rb LISTING SOURCE TREE GEM_DIR BIN_DIR EXT_DIR PREBUILT
#
# LISTING has a line per gem of the source's gems/bundled_gems: its name, version and complete
# specification's path in the SOURCE tree (toolchain/compile/bundled.py found it); GEM_DIR,
# BIN_DIR and EXT_DIR are guest paths (the
# gem home, the commands' directory, the gem home's extensions directory for the wasm target);
# PREBUILT names, comma-separated, the gems whose extensions are prelinked into ruby.wasm: their
# extension directories get RubyGems' gem.build_complete, without which RubyGems ignores a gem
# that declares extensions. Prints one line per gem: name, version, executables.
require "rubygems"
require "rubygems/installer"
require "fileutils"

listing, source_root, tree, gem_dir, bin_dir, ext_dir, prebuilt = ARGV
prebuilt = prebuilt.to_s.split(",")

File.foreach(listing) do |line|
  name, version, spec_path = line.split
  full_name = "#{name}-#{version}"
  spec = Gem::Specification.load(File.join(source_root, spec_path))
  abort "bundled gem #{full_name}: #{spec_path} specifies #{spec&.full_name.inspect}" unless spec&.full_name == full_name
  source = File.join(source_root, ".bundle", "gems", full_name)
  target = File.join(tree, gem_dir, "gems", full_name)
  FileUtils.mkdir_p(File.dirname(target))
  FileUtils.cp_r(source, target, preserve: false)
  specifications = File.join(tree, gem_dir, "specifications")
  FileUtils.mkdir_p(specifications)
  File.write(File.join(specifications, "#{full_name}.gemspec"), spec.to_ruby)
  if !spec.extensions.empty? && prebuilt.include?(name)
    built = File.join(tree, ext_dir, full_name)
    FileUtils.mkdir_p(built)
    File.write(File.join(built, "gem.build_complete"), "")
  end
  installer = Gem::Installer.for_spec(spec, install_dir: File.join(tree, gem_dir), bin_dir: bin_dir, env_shebang: false,
                                            wrappers: true, format_executable: false)
  # The wrappers start the wasm's own ruby, as make install's do (RubyGems would write a /bin/sh
  # trampoline, since the baseruby is installed load-relative).
  installer.define_singleton_method(:shebang) { |_executable| "#!#{File.join(bin_dir, "ruby")}" }
  spec.executables.each do |executable|
    wrapper = File.join(tree, bin_dir, executable)
    FileUtils.mkdir_p(File.dirname(wrapper))
    File.write(wrapper, installer.app_script_text(executable))
    File.chmod(0o755, wrapper)
  end
  puts [name, version, *spec.executables].join(" ")
end
