/**
 * Local stand-ins for an SMTP relay and an HTTP SMS gateway, so the "harness" setup's oidc-sspr runs
 * with delivery configured as a production install is (SMTP + HTTP-SMS), not with the outbox folder.
 * A sign-in sends nothing; these only have to exist. The SMTP one answers every command with 250
 * (enough for a client to get through a message if one were ever sent); the SMS one answers 200.
 */
import http from 'node:http';
import net from 'node:net';

export interface DummyDelivery {
  smtpPort: number;
  smsUrl: string;
  close(): Promise<void>;
}

function listening(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

export async function startDummyDelivery(): Promise<DummyDelivery> {
  const smtp = net.createServer((socket) => {
    socket.write('220 bench-dummy ESMTP\r\n');
    let data = false;
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        if (data) {
          if (line === '.') { data = false; socket.write('250 queued\r\n'); }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'DATA') { data = true; socket.write('354 go ahead\r\n'); } else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('250 ok\r\n');
      }
    });
    socket.on('error', () => undefined);
  });
  const sms = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"queued"}'); });
  });
  const smtpPort = await listening(smtp);
  const smsPort = await listening(sms);
  return {
    smtpPort,
    smsUrl: `http://127.0.0.1:${smsPort}/sms`,
    async close() {
      sms.closeAllConnections();
      await Promise.all([new Promise((r) => smtp.close(r)), new Promise((r) => sms.close(r))]);
    },
  };
}
