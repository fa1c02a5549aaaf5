// Signs one call with the aws4 npm package, unchanged, and sends it (Node's http).
const aws4 = require('aws4');
const http = require('http');
const [method, url, accessKeyId, secretAccessKey, region, service, body] = process.argv.slice(2);
const u = new URL(url);
const opts = { host: u.hostname, port: u.port, method, path: u.pathname + u.search,
  region, service, headers: body ? { 'Content-Type': 'application/json' } : {}, body };
aws4.sign(opts, { accessKeyId, secretAccessKey });
const req = http.request(opts, (res) => {
  let data = '';
  res.on('data', (c) => { data += c; });
  res.on('end', () => { console.log(res.statusCode); console.log(data); });
});
if (body) req.write(body);
req.end();
