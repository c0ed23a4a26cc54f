# Smoke checks for ruby.wasm with nokogiri prelinked, loaded by smoke.rb after its base checks
# (`check` is its helper). Each goes through libxml2, libxslt or libexslt inside the wasm.
require "nokogiri"

check("nokogiri_libraries_compiled_in") do
  info = Nokogiri::VERSION_INFO
  puts "NOKOGIRI libxml2=#{info.dig("libxml", "compiled")} libxslt=#{info.dig("libxslt", "compiled")}"
  info.dig("libxml", "source") == "system" &&
    info.dig("libxml", "compiled") == info.dig("libxml", "loaded") &&
    info.dig("libxslt", "compiled") == info.dig("libxslt", "loaded")
end

check("nokogiri_parse_xml") { Nokogiri::XML("<a><b>hi</b></a>").at("b").text == "hi" }

check("nokogiri_parse_html4") do
  doc = Nokogiri::HTML4("<html><body><p class='x'>one<p>two</body></html>")
  doc.css("p").map(&:text) == %w[one two] && doc.at("p")["class"] == "x" && doc.at("title").nil?
end

check("nokogiri_xpath_with_namespaces") do
  doc = Nokogiri::XML('<r xmlns="urn:default" xmlns:a="urn:a"><a:x>1</a:x><y>2</y></r>')
  doc.xpath("//a:x", "a" => "urn:a").text == "1" && doc.xpath("//d:y", "d" => "urn:default").text == "2" &&
    doc.xpath("//y").empty?
end

check("nokogiri_css_selectors") do
  doc = Nokogiri::HTML4("<ul><li class='a'>1</li><li>2</li><li class='a b'>3</li></ul>")
  doc.css("li.a").map(&:text) == %w[1 3] && doc.css("ul > li:nth-child(2)").text == "2" &&
    doc.at_css("li.a.b").text == "3"
end

check("nokogiri_xslt_transform_with_exslt") do
  stylesheet = Nokogiri::XSLT(<<~XSL)
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
                    xmlns:math="http://exslt.org/math" extension-element-prefixes="math">
      <xsl:param name="greeting"/>
      <xsl:template match="/">
        <out><xsl:value-of select="$greeting"/>: <xsl:value-of select="count(//n)"/> items, max <xsl:value-of select="math:max(//n)"/></out>
      </xsl:template>
    </xsl:stylesheet>
  XSL
  result = stylesheet.transform(Nokogiri::XML("<l><n>3</n><n>11</n><n>7</n></l>"),
                                Nokogiri::XSLT.quote_params(["greeting", "hello"]))
  result.at("out").text == "hello: 3 items, max 11"
end

check("nokogiri_sax_callbacks") do
  recorder = Class.new(Nokogiri::XML::SAX::Document) do
    attr_reader :events

    def initialize
      super
      @events = []
    end

    def start_element(name, attrs = []) = @events << [:start, name, attrs]
    def end_element(name) = @events << [:end, name]
    def characters(text) = (@events << [:text, text] unless text.strip.empty?)
  end.new
  Nokogiri::XML::SAX::Parser.new(recorder).parse("<a x='1'><b>t</b></a>")
  recorder.events == [[:start, "a", [["x", "1"]]], [:start, "b", []], [:text, "t"], [:end, "b"], [:end, "a"]]
end

check("nokogiri_builder") do
  xml = Nokogiri::XML::Builder.new(encoding: "UTF-8") do |x|
    x.list { x.item("one", id: 1); x.item("two") }
  end.to_xml
  doc = Nokogiri::XML(xml)
  xml.start_with?('<?xml version="1.0" encoding="UTF-8"?>') && doc.xpath("//item").map(&:text) == %w[one two] &&
    doc.at("item")["id"] == "1"
end

check("nokogiri_strict_mode_raises_syntax_error") do
  recovered = Nokogiri::XML("<a><b></a>")
  begin
    Nokogiri::XML("<a><b></a>", &:strict)
    false
  rescue Nokogiri::XML::SyntaxError => error
    # several errors raise one aggregate SyntaxError (no line); the recovered parse lists each
    error.message.include?("Opening and ending tag mismatch") && recovered.errors.first.line == 1
  end
end

check("nokogiri_encoding_round_trip_utf8_latin1") do
  text = "caf\u00e9 \u00fcber"
  latin1 = %(<?xml version="1.0" encoding="ISO-8859-1"?><t>#{text}</t>).encode("ISO-8859-1")
  parsed = Nokogiri::XML(latin1).at("t").text
  out = Nokogiri::XML(%(<?xml version="1.0" encoding="UTF-8"?><t>#{text}</t>)).to_xml(encoding: "ISO-8859-1")
  parsed == text && parsed.encoding == Encoding::UTF_8 && out.b.include?("caf\xE9".b) &&
    !out.b.include?("\u00e9".b) && Nokogiri::XML(out).at("t").text == text
end
