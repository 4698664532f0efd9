import { describe, expect, it } from 'vitest';
import {
  type AddressClass,
  classifyAddress,
  describeAddress,
  isAllowed,
} from '../../src/hub/address-policy.js';
import { expectFluxThrow } from '../weights/fixtures.js';

const TABLE: readonly [string, AddressClass][] = [
  // IPv4 public, including the neighbours of special ranges
  ['8.8.8.8', 'public'],
  ['1.1.1.1', 'public'],
  ['1.0.0.0', 'public'],
  ['9.255.255.255', 'public'],
  ['11.0.0.0', 'public'],
  ['100.63.255.255', 'public'],
  ['100.128.0.0', 'public'],
  ['126.255.255.255', 'public'],
  ['128.0.0.0', 'public'],
  ['169.253.255.255', 'public'],
  ['169.255.0.0', 'public'],
  ['172.15.255.255', 'public'],
  ['172.32.0.0', 'public'],
  ['192.0.1.1', 'public'],
  ['192.167.255.255', 'public'],
  ['192.169.0.0', 'public'],
  ['198.17.255.255', 'public'],
  ['198.20.0.0', 'public'],
  ['223.255.255.255', 'public'],
  // IPv4 special
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', 'unspecified'],
  ['10.0.0.0', 'private'],
  ['10.0.0.1', 'private'],
  ['10.255.255.255', 'private'],
  ['100.64.0.1', 'shared'],
  ['100.127.255.255', 'shared'],
  ['100.100.100.200', 'metadata'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback'],
  ['169.254.0.1', 'link-local'],
  ['169.254.169.254', 'metadata'],
  ['169.254.170.2', 'metadata'],
  ['172.16.0.0', 'private'],
  ['172.31.255.255', 'private'],
  ['192.0.0.8', 'reserved'],
  ['192.0.2.1', 'documentation'],
  ['192.88.99.1', 'reserved'],
  ['192.168.1.1', 'private'],
  ['198.18.0.1', 'reserved'],
  ['198.19.255.255', 'reserved'],
  ['198.51.100.7', 'documentation'],
  ['203.0.113.9', 'documentation'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast'],
  ['240.0.0.1', 'reserved'],
  ['255.255.255.254', 'reserved'],
  ['255.255.255.255', 'broadcast'],
  // IPv6
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback'],
  ['::2', 'unspecified'], // IPv4-compatible 0.0.0.2
  ['2606:4700:4700::1111', 'public'],
  ['2a00:1450:4001:82b::200e', 'public'],
  ['2001:4860:4860::8888', 'public'],
  ['fc00::abcd', 'private'],
  ['fd00::1', 'private'],
  ['FD12:3456:789A::1', 'private'],
  ['fd00:ec2::254', 'metadata'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local'],
  ['febf:ffff::1', 'link-local'],
  ['fec0::1', 'private'],
  ['ff02::1', 'multicast'],
  ['ff0e::1', 'multicast'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation'],
  ['100::1', 'reserved'],
  ['2001::1', 'reserved'], // Teredo
  ['2001:2::1', 'reserved'],
  ['4000::1', 'reserved'], // not allocated as global unicast
  ['::ffff:0:0:1', 'reserved'],
  // IPv6 carrying IPv4: judged by the IPv4 address
  ['::ffff:10.0.0.1', 'private'],
  ['::ffff:a00:1', 'private'],
  ['::ffff:127.0.0.1', 'loopback'],
  ['::ffff:7f00:1', 'loopback'],
  ['::ffff:a9fe:a9fe', 'metadata'],
  ['::ffff:8.8.8.8', 'public'],
  ['0:0:0:0:0:ffff:192.168.1.1', 'private'],
  ['::127.0.0.1', 'loopback'],
  ['::10.0.0.1', 'private'],
  ['::8.8.8.8', 'public'],
  ['64:ff9b::a9fe:a9fe', 'metadata'],
  ['64:ff9b::10.1.2.3', 'private'],
  ['64:ff9b::808:808', 'public'],
  ['64:ff9b:1::a00:1', 'reserved'], // local-use NAT64
  ['2002:c0a8:0101::1', 'private'], // 6to4 of 192.168.1.1
  ['2002:7f00:1::', 'loopback'],
  ['2002:808:808::1', 'public'],
];

describe('classifyAddress', () => {
  it.each(TABLE)('%s is %s', (ip, cls) => expect(classifyAddress(ip)).toBe(cls));

  it('refuses what is not an IP address', () => {
    for (const bad of ['not-an-ip', '', '1.2.3', '010.0.0.1', '256.1.1.1', '1::2::3', 'example.com']) {
      expectFluxThrow(() => classifyAddress(bad), 'FLUX_ERR_USAGE', /not an IP address/);
    }
  });

  it('describes the class for messages', () => {
    expect(describeAddress('10.0.0.1')).toBe('a private address');
    expect(describeAddress('::')).toBe('an unspecified address');
    expect(describeAddress('169.254.169.254')).toBe('a cloud metadata address');
  });
});

describe('isAllowed', () => {
  const all = { allowLoopback: true, allowPrivate: true };

  it('allows public addresses under any policy', () => {
    expect(isAllowed('1.1.1.1', {})).toBe(true);
    expect(isAllowed('2606:4700:4700::1111', {})).toBe(true);
  });

  it('allows loopback only when configured', () => {
    expect(isAllowed('127.0.0.1', {})).toBe(false);
    expect(isAllowed('::1', { allowPrivate: true })).toBe(false);
    expect(isAllowed('127.0.0.1', { allowLoopback: true })).toBe(true);
    expect(isAllowed('::ffff:127.0.0.1', { allowLoopback: true })).toBe(true);
    expect(isAllowed('10.1.2.3', { allowLoopback: true })).toBe(false);
  });

  it('allows private and CGNAT addresses only when configured', () => {
    for (const ip of ['10.1.2.3', '192.168.0.10', '172.20.0.1', '100.64.0.1', 'fd00::1', '::ffff:10.0.0.1']) {
      expect(isAllowed(ip, {})).toBe(false);
      expect(isAllowed(ip, { allowPrivate: true })).toBe(true);
    }
  });

  it('never allows link-local, metadata, unspecified, multicast, broadcast, documentation or reserved', () => {
    for (const ip of [
      '169.254.1.1',
      '169.254.169.254',
      'fd00:ec2::254',
      '100.100.100.200',
      'fe80::1',
      '0.0.0.0',
      '::',
      '224.0.0.1',
      'ff02::1',
      '255.255.255.255',
      '192.0.2.1',
      '2001:db8::1',
      '240.0.0.1',
      '100::1',
    ]) {
      expect(isAllowed(ip, all), ip).toBe(false);
    }
  });

  it('is false for what is not an IP address', () => {
    expect(isAllowed('localhost', all)).toBe(false);
  });
});
